package api

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	k8sversion "k8s.io/apimachinery/pkg/version"

	"github.com/pkgserver/pkgserver/internal/auth"
	"github.com/pkgserver/pkgserver/internal/store"
)

// What kubectl asks of every Kubernetes API server beside the resources:
// /version and access reviews. (Paths nothing serves answer a NotFound
// Status through the error handler, as echo's router reports them.)

// semverPrefix is the major.minor[.patch] a build's version starts with.
var semverPrefix = regexp.MustCompile(`^v?(\d+)\.(\d+)(\.\d+)?`)

// versionInfo is the answer of /version for a build's version: gitVersion
// is the version with a leading "v", as Kubernetes writes it, or
// v0.0.0-<version> for a build that is not a release (such as "dev"), so
// that clients parsing it as semver succeed; the commit and its time come
// from the build's VCS stamp when it has one.
func versionInfo(build string) k8sversion.Info {
	info := k8sversion.Info{Major: "0", Minor: "0", GitVersion: "v0.0.0-" + build, GitTreeState: "",
		GoVersion: runtime.Version(), Compiler: runtime.Compiler, Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if build == "" {
		info.GitVersion = "v0.0.0-dev"
	}
	if m := semverPrefix.FindStringSubmatch(build); m != nil {
		info.Major, info.Minor = m[1], m[2]
		info.GitVersion = "v" + strings.TrimPrefix(build, "v")
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.GitCommit = s.Value
			case "vcs.time":
				info.BuildDate = s.Value
			case "vcs.modified":
				info.GitTreeState = map[string]string{"true": "dirty", "false": "clean"}[s.Value]
			}
		}
	}
	return info
}

// serverVersion answers /version. Like kube-apiserver's default RBAC (the
// system:public-info-viewer role), it needs no token: the version is no
// secret and clients ask before they authenticate.
func (s *Server) serverVersion(c echo.Context) error {
	return writeJSON(c, http.StatusOK, s.version)
}

// reviewResource decides an access review of resource attributes for a
// token. A "*" group, resource or verb stands for every one: the answer is
// yes when the token may do all of them.
func reviewResource(t *store.Token, a *authorizationv1.ResourceAttributes) (bool, string) {
	res := a.Resource
	if a.Subresource != "" {
		res += "/" + a.Subresource
	}
	matched := 0
	for _, g := range []string{configGroup, pkgGroup} {
		if a.Group != "*" && a.Group != g {
			continue
		}
		for _, r := range resources[g] {
			if res != "*" && r.Name != res {
				continue
			}
			for verb, role := range r.roles {
				if a.Verb != "*" && a.Verb != verb {
					continue
				}
				matched++
				if !auth.Allowed(t, a.Namespace, role) {
					return false, fmt.Sprintf("%s of %s needs role %s in %s", verb, r.Name, role, where(a.Namespace))
				}
			}
		}
	}
	if matched == 0 {
		return false, fmt.Sprintf("pkgserver serves no %s %q of group %q", verbNoun(a.Verb), res, a.Group)
	}
	return true, fmt.Sprintf("token %q holds role %s in %s", t.Name, t.Role, where(t.Namespace))
}

func verbNoun(verb string) string {
	if verb == "*" {
		return "resource"
	}
	return verb + " of resource"
}

func where(namespace string) string {
	switch namespace {
	case "":
		return "all namespaces"
	case store.AllNamespaces:
		return "every namespace"
	}
	return "namespace " + namespace
}

// publicPaths are the paths that any valid token may read (and some none).
var publicPaths = []string{"/api", "/api/*", "/apis", "/apis/*", "/openapi/*", "/version", "/healthz", "/readyz", "/metrics"}

// reviewNonResource decides an access review of a path: any token may read
// discovery, OpenAPI, the version and the health checks; the resources'
// paths are reviewed as resources.
func reviewNonResource(a *authorizationv1.NonResourceAttributes) (bool, string) {
	if a.Verb != "get" && a.Verb != "*" {
		return false, "non-resource paths are only read"
	}
	for _, p := range publicPaths {
		if a.Path == p || strings.HasSuffix(p, "/*") && strings.HasPrefix(a.Path, strings.TrimSuffix(p, "*")) {
			return a.Verb == "get", "any token may read " + a.Path
		}
	}
	return false, "pkgserver serves no path " + a.Path
}

// selfSubjectAccessReview answers whether the request's token may do what
// the review describes, from its role (kubectl auth can-i).
func (s *Server) selfSubjectAccessReview(c echo.Context) error {
	var r authorizationv1.SelfSubjectAccessReview
	if err := decodeReview(c, &r); err != nil {
		return err
	}
	if err := checkTypeMeta(r.TypeMeta, authzGroup+"/"+authzVersion, "SelfSubjectAccessReview"); err != nil {
		return err
	}
	t, _ := c.Get(tokenKey).(*store.Token)
	switch ra, na := r.Spec.ResourceAttributes, r.Spec.NonResourceAttributes; {
	case ra != nil && na != nil:
		return invalid("SelfSubjectAccessReview", "", []metav1.StatusCause{{Type: metav1.CauseTypeFieldValueInvalid, Field: "spec",
			Message: "resourceAttributes and nonResourceAttributes are mutually exclusive"}})
	case ra != nil:
		r.Status.Allowed, r.Status.Reason = reviewResource(t, ra)
	case na != nil:
		r.Status.Allowed, r.Status.Reason = reviewNonResource(na)
	default:
		return invalid("SelfSubjectAccessReview", "", []metav1.StatusCause{{Type: metav1.CauseTypeFieldValueRequired, Field: "spec",
			Message: "exactly one of resourceAttributes and nonResourceAttributes is required"}})
	}
	r.TypeMeta = metav1.TypeMeta{APIVersion: authzGroup + "/" + authzVersion, Kind: "SelfSubjectAccessReview"}
	return writeJSON(c, http.StatusCreated, r)
}

// selfSubjectRulesReview lists what the request's token may do in a
// namespace (kubectl auth can-i --list).
func (s *Server) selfSubjectRulesReview(c echo.Context) error {
	var r authorizationv1.SelfSubjectRulesReview
	if err := decodeReview(c, &r); err != nil {
		return err
	}
	if err := checkTypeMeta(r.TypeMeta, authzGroup+"/"+authzVersion, "SelfSubjectRulesReview"); err != nil {
		return err
	}
	if r.Spec.Namespace == "" {
		return invalid("SelfSubjectRulesReview", "", []metav1.StatusCause{{Type: metav1.CauseTypeFieldValueRequired, Field: "spec.namespace",
			Message: "a namespace is required"}})
	}
	t, _ := c.Get(tokenKey).(*store.Token)
	r.Status = authorizationv1.SubjectRulesReviewStatus{
		ResourceRules: []authorizationv1.ResourceRule{},
		NonResourceRules: []authorizationv1.NonResourceRule{
			{Verbs: []string{"get"}, NonResourceURLs: publicPaths},
		},
	}
	for _, g := range []string{configGroup, pkgGroup} {
		for _, res := range resources[g] {
			var verbs []string
			for verb, role := range res.roles {
				if auth.Allowed(t, r.Spec.Namespace, role) {
					verbs = append(verbs, verb)
				}
			}
			if len(verbs) > 0 {
				slices.Sort(verbs)
				r.Status.ResourceRules = append(r.Status.ResourceRules,
					authorizationv1.ResourceRule{Verbs: verbs, APIGroups: []string{g}, Resources: []string{res.Name}})
			}
		}
	}
	r.TypeMeta = metav1.TypeMeta{APIVersion: authzGroup + "/" + authzVersion, Kind: "SelfSubjectRulesReview"}
	return writeJSON(c, http.StatusCreated, r)
}

// checkTypeMeta refuses a body of another kind; an empty one is taken as
// the expected.
func checkTypeMeta(tm metav1.TypeMeta, apiVersion, kind string) error {
	if (tm.APIVersion != "" && tm.APIVersion != apiVersion) || (tm.Kind != "" && tm.Kind != kind) {
		return badRequest("the body is a %s %s, not a %s %s", tm.APIVersion, tm.Kind, apiVersion, kind)
	}
	return nil
}

// reviewDecoder reads access reviews in every encoding of the API server:
// client-go's generated clients (kubectl auth can-i) send built-in types
// as protobuf unless told otherwise.
var reviewDecoder = sync.OnceValue(func() k8sruntime.Decoder {
	scheme := k8sruntime.NewScheme()
	if err := authorizationv1.AddToScheme(scheme); err != nil {
		panic(err) // the scheme of a generated package always registers
	}
	return serializer.NewCodecFactory(scheme).UniversalDeserializer()
})

// decodeReview reads an access review: JSON strictly, as every body, or
// Kubernetes' protobuf.
func decodeReview(c echo.Context, into k8sruntime.Object) error {
	ct, _, _ := strings.Cut(c.Request().Header.Get("Content-Type"), ";")
	if strings.TrimSpace(ct) != k8sruntime.ContentTypeProtobuf {
		return decode(c, into)
	}
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, MaxBodyBytes+1))
	if err != nil {
		return badRequest("read body: %v", err)
	}
	if len(body) > MaxBodyBytes {
		return newStatus(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "the request body is larger than %d bytes", MaxBodyBytes)
	}
	if _, _, err := reviewDecoder().Decode(body, nil, into); err != nil {
		return badRequest("invalid protobuf body: %v", err)
	}
	return nil
}
