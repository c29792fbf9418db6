// Package api is pkgserver's HTTP API, in the conventions of Kubernetes so
// that kubectl-minded users and client-go's discovery and dynamic clients
// work with it: config.pkg.pkgserver.dev/v1alpha1 repositories,
// pkg.pkgserver.dev/v1alpha1 package revisions and their resources, lists
// with selectors and pages, watches, discovery, OpenAPI, errors as Status.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	k8sversion "k8s.io/apimachinery/pkg/version"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/auth"
	"github.com/pkgserver/pkgserver/internal/lifecycle"
	"github.com/pkgserver/pkgserver/internal/store"
)

// MaxBodyBytes is the largest request body accepted.
const MaxBodyBytes = 1 << 20

// Syncer keeps repositories in step with git.
type Syncer interface {
	// Add starts syncing a repository (or restarts, with its new spec).
	Add(repo *store.Repository)
	// Reset rebuilds the index of a repository whose git location changed.
	Reset(old, updated *store.Repository)
	// Remove stops syncing a repository and drops its mirror.
	Remove(repo *store.Repository)
	// SyncNow syncs a repository and waits for the outcome.
	SyncNow(ctx context.Context, namespace, name string) error
}

// Hosted creates the git repositories of hosted Repositories and says
// where they are cloned from.
type Hosted interface {
	Create(ctx context.Context, namespace, name, branch string) error
	CloneURLs(namespace, name string) configv1alpha1.CloneURLs
}

// Store is what the API reads and writes of the index: the repositories,
// the package revisions with their validations, the changes watches
// follow, the field managers of server-side apply, and the checks of
// commits it answers the details of.
type Store interface {
	store.Repositories
	store.Index
	store.Validations
	store.Events
	store.FieldManagers
	store.Checks
	store.Deliveries
}

// Config is what the server is built from.
type Config struct {
	// DataDir is the server's data directory: no local repository may be
	// registered inside it.
	DataDir string
	// Hosted is nil when the server hosts no git repositories.
	Hosted Hosted
	// WebhookURL says where a repository's forge sends webhooks ("" for
	// none); nil when the server receives none.
	WebhookURL func(*configv1alpha1.Repository) string
	// Handlers serve paths below their prefixes (ending in "/") beside the
	// API, with its metrics: git's smart HTTP, the hooks, the web UI.
	Handlers map[string]http.Handler
	// Home, when set, is where the server's root sends a browser (the web
	// UI's prefix).
	Home     string
	Store    Store
	Auth     *auth.Authenticator
	Syncer   Syncer
	Log      *slog.Logger
	Registry *prometheus.Registry
	// Ready reports whether the server can serve (for /readyz).
	Ready func(ctx context.Context) error
	// Lifecycle writes package revisions; nil: the API only reads them.
	Lifecycle *lifecycle.Writer
	// Version is the build's version, answered by /version.
	Version string
}

// Server is the HTTP API.
type Server struct {
	store      Store
	auth       *auth.Authenticator
	syncer     Syncer
	lifecycle  *lifecycle.Writer
	log        *slog.Logger
	ready      func(ctx context.Context) error
	metrics    *httpMetrics
	e          *echo.Echo
	revisions  *revisionCache
	hosted     Hosted
	webhookURL func(*configv1alpha1.Repository) string
	dataDir    string
	version    k8sversion.Info
	// stopping is closed when shutdown begins: watches end then, so that
	// they do not hold shutdown up.
	stopping chan struct{}
}

// New returns the API server.
func New(cfg Config) *Server {
	s := &Server{store: cfg.Store, auth: cfg.Auth, syncer: cfg.Syncer, lifecycle: cfg.Lifecycle, log: cfg.Log, ready: cfg.Ready,
		metrics: newHTTPMetrics(cfg.Registry), stopping: make(chan struct{}),
		revisions: newRevisionCache(revisionCacheBytes), hosted: cfg.Hosted, webhookURL: cfg.WebhookURL, dataDir: cfg.DataDir,
		version: versionInfo(cfg.Version)}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	e.Use(s.metrics.middleware)
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{Registry: cfg.Registry})))
	e.GET("/version", s.serverVersion)

	// Authentication is per route (not a group's middleware) so that the
	// router answers 405 to a method a path does not take.
	a := authenticated{e: e, mw: s.authenticate}
	a.GET("/api", s.legacyAPI)
	a.GET("/apis", s.apiGroupList)
	s.discoveryRoutes(a)
	s.openAPIRoutes(a)
	authz := "/apis/" + authzGroup + "/" + authzVersion
	a.POST(authz+"/selfsubjectaccessreviews", s.selfSubjectAccessReview)
	a.POST(authz+"/selfsubjectrulesreviews", s.selfSubjectRulesReview)

	repos := "/apis/" + configGroup + "/" + version
	a.GET(repos+"/repositories", s.listRepositories)
	a.GET(repos+"/namespaces/:ns/repositories", s.listRepositories)
	a.POST(repos+"/namespaces/:ns/repositories", s.createRepository)
	a.GET(repos+"/namespaces/:ns/repositories/:name", s.getRepository)
	a.PUT(repos+"/namespaces/:ns/repositories/:name", s.updateRepository)
	a.PATCH(repos+"/namespaces/:ns/repositories/:name", s.patchRepository)
	a.DELETE(repos+"/namespaces/:ns/repositories/:name", s.deleteRepository)
	a.POST(repos+"/namespaces/:ns/repositories/:name/sync", s.syncRepository)
	a.GET(repos+"/namespaces/:ns/repositories/:name/checks/:commit", s.getChecks)
	a.GET(repos+"/namespaces/:ns/repositories/:name/deliveries", s.listDeliveries)

	pkgs := "/apis/" + pkgGroup + "/" + version
	a.GET(pkgs+"/packagerevisions", s.listRevisions)
	a.GET(pkgs+"/namespaces/:ns/packagerevisions", s.listRevisions)
	a.GET(pkgs+"/namespaces/:ns/packagerevisions/:name", s.getRevision)
	a.GET(pkgs+"/packagerevisionresources", s.listResources)
	a.GET(pkgs+"/namespaces/:ns/packagerevisionresources", s.listResources)
	a.GET(pkgs+"/namespaces/:ns/packagerevisionresources/:name", s.getResources)
	a.POST(pkgs+"/namespaces/:ns/packagerevisions", s.createRevision)
	a.PUT(pkgs+"/namespaces/:ns/packagerevisions/:name", s.updateRevision)
	a.PATCH(pkgs+"/namespaces/:ns/packagerevisions/:name", s.patchRevision)
	a.GET(pkgs+"/namespaces/:ns/packagerevisions/:name/approval", s.getRevision)
	a.PUT(pkgs+"/namespaces/:ns/packagerevisions/:name/approval", s.approveRevision)
	a.PATCH(pkgs+"/namespaces/:ns/packagerevisions/:name/approval", s.patchApproval)
	a.DELETE(pkgs+"/namespaces/:ns/packagerevisions/:name", s.deleteRevision)
	a.PUT(pkgs+"/namespaces/:ns/packagerevisionresources/:name", s.putResources)
	a.PATCH(pkgs+"/namespaces/:ns/packagerevisionresources/:name", s.patchResources)
	for prefix, h := range cfg.Handlers {
		e.Any(prefix+"*", echo.WrapHandler(h))
	}
	if home := cfg.Home; home != "" {
		toHome := func(c echo.Context) error { return c.Redirect(http.StatusFound, home) }
		e.GET("/", toHome)
		e.GET(strings.TrimSuffix(home, "/"), toHome)
	}
	s.e = e
	return s
}

type authenticated struct {
	e  *echo.Echo
	mw echo.MiddlewareFunc
}

func (a authenticated) GET(path string, h echo.HandlerFunc)    { a.e.GET(path, h, a.mw) }
func (a authenticated) POST(path string, h echo.HandlerFunc)   { a.e.POST(path, h, a.mw) }
func (a authenticated) PUT(path string, h echo.HandlerFunc)    { a.e.PUT(path, h, a.mw) }
func (a authenticated) PATCH(path string, h echo.HandlerFunc)  { a.e.PATCH(path, h, a.mw) }
func (a authenticated) DELETE(path string, h echo.HandlerFunc) { a.e.DELETE(path, h, a.mw) }

// Handler returns the server as an http.Handler.
func (s *Server) Handler() http.Handler { return s.e }

// Stopping returns a channel closed when shutdown begins: streams (the
// API's watches, the web UI's events) end then.
func (s *Server) Stopping() <-chan struct{} { return s.stopping }

func (s *Server) readyz(c echo.Context) error {
	if s.ready != nil {
		if err := s.ready(c.Request().Context()); err != nil {
			return c.String(http.StatusServiceUnavailable, "not ready: "+err.Error())
		}
	}
	return c.String(http.StatusOK, "ok")
}

// tokenKey is where the authenticated token is kept in a request's context.
const tokenKey = "pkgserver.token"

// callerToken is the context key of a token the server's own caller
// authenticated.
type callerToken struct{}

// WithToken returns ctx carrying a token the caller authenticated itself:
// the web UI, which calls the API in process for the person its session
// cookie names. A request with it is not asked for a bearer token, and is
// authorized as the token is. Only code in the process can set it.
func WithToken(ctx context.Context, t *store.Token) context.Context {
	return context.WithValue(ctx, callerToken{}, t)
}

// authenticate requires a valid bearer token.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if t, ok := c.Request().Context().Value(callerToken{}).(*store.Token); ok && t != nil {
			c.Set(tokenKey, t)
			return next(c)
		}
		h := c.Request().Header.Get("Authorization")
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return newStatus(http.StatusUnauthorized, "Unauthorized", "a bearer token is required")
		}
		t, err := s.auth.Authenticate(c.Request().Context(), strings.TrimSpace(tok))
		if errors.Is(err, auth.ErrUnauthenticated) {
			return newStatus(http.StatusUnauthorized, "Unauthorized", "the bearer token is not valid")
		}
		if err != nil {
			return err
		}
		c.Set(tokenKey, t)
		return next(c)
	}
}

// authorize requires the request's token to hold a role in a namespace (""
// for all namespaces).
func authorize(c echo.Context, namespace string, need store.Role) error {
	t, _ := c.Get(tokenKey).(*store.Token)
	if auth.Allowed(t, namespace, need) {
		return nil
	}
	where := "namespace " + namespace
	if namespace == "" {
		where = "all namespaces"
	}
	return newStatus(http.StatusForbidden, "Forbidden", "token %q may not %s in %s", t.Name, verb(need), where)
}

func verb(r store.Role) string {
	switch r {
	case store.RoleRead:
		return "read"
	case store.RoleWrite:
		return "write"
	}
	return "administer"
}

// decode reads a JSON request body strictly: a bounded size, no unknown
// fields, nothing after the object.
func decode(c echo.Context, into any) error {
	return decodeLimit(c, into, MaxBodyBytes)
}

// MaxResourcesBodyBytes bounds the body of an update of a package's
// resources: the package size limit of validation, with room for JSON's
// escapes.
const MaxResourcesBodyBytes = 40 << 20

// decodeLimit is decode with a body limit of its own.
func decodeLimit(c echo.Context, into any, limit int) error {
	if ct := c.Request().Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return newStatus(http.StatusUnsupportedMediaType, "UnsupportedMediaType", "content type %q is not supported: send application/json", ct)
	}
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, int64(limit)+1))
	if err != nil {
		return badRequest("read body: %v", err)
	}
	if len(body) > limit {
		return newStatus(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "the request body is larger than %d bytes", limit)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return badRequest("invalid JSON body: %v", err)
	}
	if dec.More() {
		return badRequest("invalid JSON body: data after the object")
	}
	return nil
}

// Serve serves on a listener until ctx ends, then shuts down gracefully:
// no new connections, watches end, other requests under way finish (within
// the timeout, after which their contexts are cancelled).
func (s *Server) Serve(ctx context.Context, ln net.Listener, shutdownTimeout time.Duration) error {
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	srv := &http.Server{
		Handler:           s.e,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	close(s.stopping)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
