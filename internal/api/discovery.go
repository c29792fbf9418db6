package api

import (
	"net/http"

	"github.com/labstack/echo/v4"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
)

const (
	configGroup = configv1alpha1.Group
	pkgGroup    = pkgv1alpha1.Group
	version     = "v1alpha1"
)

// resources lists the API's resources by group, as discovery shows them.
var resources = map[string][]metav1.APIResource{
	configGroup: {
		{Name: "repositories", SingularName: "repository", Namespaced: true, Kind: "Repository", ShortNames: []string{"repo"},
			Verbs: metav1.Verbs{"create", "delete", "get", "list", "update"}},
		{Name: "repositories/sync", Namespaced: true, Kind: "Repository", Verbs: metav1.Verbs{"create"}},
	},
	pkgGroup: {
		{Name: "packagerevisions", SingularName: "packagerevision", Namespaced: true, Kind: "PackageRevision",
			ShortNames: []string{"pr"}, Verbs: metav1.Verbs{"get", "list", "watch"}},
		{Name: "packagerevisionresources", SingularName: "packagerevisionresources", Namespaced: true,
			Kind: "PackageRevisionResources", Verbs: metav1.Verbs{"get"}},
	},
}

func apiGroup(name string) metav1.APIGroup {
	gv := metav1.GroupVersionForDiscovery{GroupVersion: name + "/" + version, Version: version}
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

func (s *Server) apiGroupList(c echo.Context) error {
	return writeJSON(c, http.StatusOK, metav1.APIGroupList{
		TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"},
		Groups:   []metav1.APIGroup{apiGroup(configGroup), apiGroup(pkgGroup)},
	})
}

func (s *Server) apiGroup(c echo.Context) error {
	g := c.Param("group")
	if _, ok := resources[g]; !ok {
		return notFound("APIGroup", g)
	}
	return writeJSON(c, http.StatusOK, apiGroup(g))
}

func (s *Server) apiResourceList(c echo.Context) error {
	g, v := c.Param("group"), c.Param("version")
	res, ok := resources[g]
	if !ok || v != version {
		return notFound("APIResourceList", g+"/"+v)
	}
	return writeJSON(c, http.StatusOK, metav1.APIResourceList{
		TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: g + "/" + v,
		APIResources: res,
	})
}
