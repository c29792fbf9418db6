package ui

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pkgserver/pkgserver/internal/store"
)

// page is what every page's layout shows, around the page's own Data.
type page struct {
	Title string
	// Who is the visitor; nil on the sign-in page.
	Who  *visitor
	Data any
	// Live, when set, is what the page shows, for its stream of changes.
	Live *liveScope
}

// CSRF is the token the page's forms carry.
func (p page) CSRF() string {
	if p.Who == nil {
		return ""
	}
	return p.Who.csrf
}

// Signed tells whether the visitor signed in with a session (and may sign
// out) rather than sent a bearer token.
func (p page) Signed() bool { return p.Who != nil && p.Who.csrf != "" }

// Role is the visitor's role and where it holds it.
func (p page) Role() string {
	if p.Who == nil {
		return ""
	}
	ns := p.Who.token.Namespace
	if ns == store.AllNamespaces {
		ns = "all namespaces"
	}
	return string(p.Who.token.Role) + " in " + ns
}

var funcs = template.FuncMap{
	"since": func(t *metav1.Time) string {
		if t == nil || t.IsZero() {
			return "never"
		}
		return ago(time.Since(t.Time)) + " ago"
	},
	"time": func(t metav1.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"path": func(elems ...string) string {
		for i, e := range elems {
			elems[i] = url.PathEscape(e)
		}
		return Prefix + path.Join(elems...)
	},
	"lower": strings.ToLower,
	"list":  func(s ...string) []string { return s },
}

// ago is a duration as a person reads it: "3 min", "2 h".
func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

// parsePages parses each page with the layout.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, err
		}
		pages[base] = t
	}
	return pages, nil
}

// render writes a page with its layout.
func (u *UI) render(w http.ResponseWriter, r *http.Request, code int, name string, p page) {
	var b bytes.Buffer
	if err := u.pages[name].ExecuteTemplate(&b, "layout", p); err != nil {
		u.cfg.Log.Error("ui: render", "page", name, "err", err)
		code, b = http.StatusInternalServerError, *bytes.NewBufferString("internal error")
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	writeBody(w, r, code, b.Bytes())
}

// fail answers with an error page.
func (u *UI) fail(w http.ResponseWriter, r *http.Request, code int, msg string) {
	u.render(w, r, code, "error.html", page{Title: http.StatusText(code), Data: msg})
}

// failAPI answers with the page of an API call's error: the API's code and
// message.
func (u *UI) failAPI(w http.ResponseWriter, r *http.Request, v *visitor, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		u.render(w, r, ae.code, "error.html", page{Title: http.StatusText(ae.code), Who: v, Data: ae.message})
		return
	}
	u.cfg.Log.Error("ui: API call", "err", err)
	u.render(w, r, http.StatusInternalServerError, "error.html", page{Title: "Error", Who: v, Data: "internal error"})
}
