// Package ui is the web UI of pkgserver: server-rendered pages
// (html/template) over the API, embedded in the binary, for browsing
// repositories and packages, reviewing a revision, and moving it through
// its lifecycle. Reading needs no JavaScript; htmx, committed under
// assets/ at a pinned version (make ui-assets), makes pages live.
//
// The UI calls the API in process, as the signed-in person's token
// (api.WithToken): every page and action is allowed or refused by the
// API's own checks of roles and namespaces. A person signs in with an API
// token and holds a session cookie (sessions.go); scripts may send the
// API's Authorization: Bearer header instead.
package ui

import (
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/pkgserver/pkgserver/internal/auth"
	"github.com/pkgserver/pkgserver/internal/store"
)

// Prefix is where the UI is served; the server's root redirects here.
const Prefix = "/ui/"

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// Store is what the UI reads of the index itself: the sessions, and the
// tokens they act with; when it changed (live pages). Everything else it
// reads through the API.
type Store interface {
	store.Sessions
	Changes
}

// Config is what the UI is built from.
type Config struct {
	// API is the API server's handler, called in process.
	API   http.Handler
	Store Store
	// Auth resolves the tokens people sign in with, and scripts' bearer
	// tokens.
	Auth *auth.Authenticator
	Log  *slog.Logger
	// SessionTTL is how long a sign-in lasts (DefaultSessionTTL if zero).
	SessionTTL time.Duration
}

// DefaultSessionTTL is how long a sign-in lasts by default.
const DefaultSessionTTL = 12 * time.Hour

// UI serves the pages.
type UI struct {
	cfg   Config
	pages map[string]*template.Template
	mux   *http.ServeMux
	live  *live
	// stopping is closed when the server begins to shut down: event
	// streams end.
	stopping <-chan struct{}
}

// New returns the UI; cfg.API may be set later, before the first request
// (SetAPI), since the API serves the UI's prefix.
func New(cfg Config) (*UI, error) {
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	u := &UI{cfg: cfg, pages: pages, mux: http.NewServeMux(), live: &live{changes: cfg.Store}, stopping: make(chan struct{})}
	files, err := fs.Sub(assetFS, "assets")
	if err != nil {
		return nil, err
	}
	assets, err := loadAssets(files)
	if err != nil {
		return nil, err
	}
	u.mux.Handle("GET "+Prefix+"assets/", assets)
	u.mux.HandleFunc("GET "+Prefix+"signin", u.signInPage)
	u.mux.HandleFunc("POST "+Prefix+"signin", u.signIn)
	u.mux.Handle("POST "+Prefix+"signout", u.person(u.signOut))
	u.mux.Handle("GET "+Prefix+"{$}", u.person(u.repositoriesPage))
	u.mux.Handle("GET "+Prefix+"events", u.person(u.events))
	u.mux.Handle("GET "+Prefix+"repositories/{ns}/{name}", u.person(u.repositoryPage))
	u.mux.Handle("POST "+Prefix+"repositories/{ns}/{name}/sync", u.person(u.syncRepository))
	u.mux.Handle("GET "+Prefix+"revisions/{ns}/{name}", u.person(u.revisionPage))
	u.mux.Handle("GET "+Prefix+"revisions/{ns}/{name}/diff", u.person(u.diffPage))
	u.mux.Handle("GET "+Prefix+"revisions/{ns}/{name}/confirm/{action}", u.person(u.confirmPage))
	u.mux.Handle("POST "+Prefix+"revisions/{ns}/{name}/{action}", u.person(u.revisionAction))
	u.mux.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		u.fail(w, r, http.StatusNotFound, "No page here.")
	})
	return u, nil
}

// SetAPI sets the API the UI calls, and the channel closed when the
// server begins to shut down.
func (u *UI) SetAPI(h http.Handler, stopping <-chan struct{}) {
	u.cfg.API, u.stopping = h, stopping
}

// Handler serves the UI's prefix.
func (u *UI) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// Pages are not framed, sniffed or sent elsewhere; scripts come
		// only from the UI's own assets.
		h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		u.mux.ServeHTTP(w, r)
	})
}
