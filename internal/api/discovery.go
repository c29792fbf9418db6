package api

import (
	"maps"
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/store"
)

const (
	configGroup = configv1alpha1.Group
	pkgGroup    = pkgv1alpha1.Group
	version     = "v1alpha1"
)

// apiResource is a resource as discovery shows it, with the role each of
// its verbs needs: discovery's verbs and access reviews both come from
// roles, and the handlers authorize with the same roles.
type apiResource struct {
	metav1.APIResource
	roles map[string]store.Role
}

// roles gives get, list and watch to every role and the write verbs to a
// role.
func roles(write store.Role, writeVerbs ...string) map[string]store.Role {
	m := map[string]store.Role{"get": store.RoleRead, "list": store.RoleRead, "watch": store.RoleRead}
	for _, v := range writeVerbs {
		m[v] = write
	}
	return m
}

// resources lists the API's resources by group.
var resources = map[string][]apiResource{
	configGroup: {
		{metav1.APIResource{Name: "repositories", SingularName: "repository", Namespaced: true, Kind: "Repository",
			ShortNames: []string{"repo"}, Categories: []string{"pkgserver"}},
			roles(store.RoleAdmin, "create", "delete", "patch", "update")},
		{metav1.APIResource{Name: "repositories/sync", Namespaced: true, Kind: "Repository"},
			map[string]store.Role{"create": store.RoleWrite}},
	},
	pkgGroup: {
		{metav1.APIResource{Name: "packagerevisions", SingularName: "packagerevision", Namespaced: true, Kind: "PackageRevision",
			ShortNames: []string{"pr"}, Categories: []string{"pkgserver"}},
			roles(store.RoleWrite, "create", "delete", "patch", "update")},
		{metav1.APIResource{Name: "packagerevisions/approval", Namespaced: true, Kind: "PackageRevision"},
			map[string]store.Role{"get": store.RoleRead, "patch": store.RoleWrite, "update": store.RoleWrite}},
		// Porch names the singular of its resources resource in the plural.
		{metav1.APIResource{Name: "packagerevisionresources", SingularName: "packagerevisionresources", Namespaced: true,
			Kind: "PackageRevisionResources", ShortNames: []string{"prr"}, Categories: []string{"pkgserver"}},
			roles(store.RoleWrite, "patch", "update")},
	},
}

// discovered is a group's resources as discovery answers them.
func discovered(res []apiResource) []metav1.APIResource {
	out := make([]metav1.APIResource, len(res))
	for i, r := range res {
		out[i] = r.APIResource
		out[i].Verbs = slices.Sorted(maps.Keys(r.roles))
	}
	return out
}

// authzGroup serves the access reviews kubectl auth can-i asks for.
const (
	authzGroup   = "authorization.k8s.io"
	authzVersion = "v1"
)

// authzResources are the authorization group's resources pkgserver
// answers: reviews of the caller's own access.
var authzResources = []metav1.APIResource{
	{Name: "selfsubjectaccessreviews", SingularName: "selfsubjectaccessreview", Kind: "SelfSubjectAccessReview", Verbs: metav1.Verbs{"create"}},
	{Name: "selfsubjectrulesreviews", SingularName: "selfsubjectrulesreview", Kind: "SelfSubjectRulesReview", Verbs: metav1.Verbs{"create"}},
}

// groupVersion returns the version of a group pkgserver serves and its
// resources; ok is false for other groups.
func groupVersion(group string) (string, []metav1.APIResource, bool) {
	if group == authzGroup {
		return authzVersion, authzResources, true
	}
	res, ok := resources[group]
	return version, discovered(res), ok
}

func apiGroup(name string) metav1.APIGroup {
	v, _, _ := groupVersion(name)
	gv := metav1.GroupVersionForDiscovery{GroupVersion: name + "/" + v, Version: v}
	return metav1.APIGroup{
		TypeMeta:         metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"},
		Name:             name,
		Versions:         []metav1.GroupVersionForDiscovery{gv},
		PreferredVersion: gv,
	}
}

// legacyAPI answers /api: pkgserver serves no core group.
func (s *Server) legacyAPI(c echo.Context) error {
	return writeJSON(c, http.StatusOK, metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{}})
}

// discoveryGroups are the groups discovery lists, in order.
var discoveryGroups = []string{configGroup, pkgGroup, authzGroup}

func (s *Server) apiGroupList(c echo.Context) error {
	l := metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
	for _, g := range discoveryGroups {
		l.Groups = append(l.Groups, apiGroup(g))
	}
	return writeJSON(c, http.StatusOK, l)
}

// discoveryRoutes serves the discovery of each group on a path of its own:
// routes with parameters there (/apis/:group/:version) would take the
// paths of resources a method does not match, answering them rather than
// 405.
func (s *Server) discoveryRoutes(a authenticated) {
	for _, g := range discoveryGroups {
		v, res, _ := groupVersion(g)
		group := apiGroup(g)
		list := metav1.APIResourceList{
			TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
			GroupVersion: g + "/" + v,
			APIResources: res,
		}
		a.GET("/apis/"+g, func(c echo.Context) error { return writeJSON(c, http.StatusOK, group) })
		a.GET("/apis/"+g+"/"+v, func(c echo.Context) error { return writeJSON(c, http.StatusOK, list) })
	}
}
