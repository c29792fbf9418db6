package ui

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pkgserver/pkgserver/internal/auth"
	"github.com/pkgserver/pkgserver/internal/store"
)

// The UI's cookies. Both are HttpOnly, SameSite=Strict, limited to the
// UI's paths, and Secure when the page came over TLS.
const (
	// sessionCookie holds a session's secret; the index keeps its hash.
	sessionCookie = "pkgserver_session"
	// signInCookie holds the nonce the sign-in form must repeat, so that
	// another site cannot sign a browser in as someone else.
	signInCookie = "pkgserver_signin"
)

// maxFormBytes bounds the body of a form post.
const maxFormBytes = 64 << 10

// visitor is who makes a request: the token it acts as, and the CSRF
// token its forms carry (none for a script's bearer token, which a
// browser does not send on its own).
type visitor struct {
	token *store.Token
	csrf  string
}

// Name is the name of the visitor's token.
func (v *visitor) Name() string { return v.token.Name }

// may tells whether the visitor holds a role in a namespace: the UI shows
// the actions the API would allow; the API decides.
func (v *visitor) may(namespace string, need store.Role) bool {
	return auth.Allowed(v.token, namespace, need)
}

// person resolves the visitor of a request and checks a form's CSRF token,
// then calls h; a browser without a session goes to the sign-in page.
func (u *UI) person(h func(http.ResponseWriter, *http.Request, *visitor)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := u.visitorOf(r)
		switch {
		case errors.Is(err, auth.ErrUnauthenticated):
			if r.Header.Get("Authorization") != "" {
				u.fail(w, r, http.StatusUnauthorized, "The bearer token is not valid.")
				return
			}
			http.Redirect(w, r, Prefix+"signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		case err != nil:
			u.cfg.Log.Error("ui: session", "err", err)
			u.fail(w, r, http.StatusInternalServerError, "The index did not answer; try again.")
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil {
				u.fail(w, r, http.StatusBadRequest, "The form could not be read.")
				return
			}
			if v.csrf != "" && !equal(r.PostForm.Get("csrf"), v.csrf) {
				u.fail(w, r, http.StatusForbidden, "The form is out of date or was not sent from this page: nothing was changed. Reload the page and try again.")
				return
			}
		}
		h(w, r, v)
	})
}

// visitorOf resolves a request's bearer token or session cookie;
// auth.ErrUnauthenticated if it has neither, or they are not valid.
func (u *UI) visitorOf(r *http.Request) (*visitor, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return nil, auth.ErrUnauthenticated
		}
		t, err := u.cfg.Auth.Authenticate(r.Context(), strings.TrimSpace(tok))
		if err != nil {
			return nil, err
		}
		return &visitor{token: t}, nil
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return nil, auth.ErrUnauthenticated
	}
	_, t, err := u.cfg.Store.GetSession(r.Context(), hashSecret(c.Value), time.Now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, auth.ErrUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	return &visitor{token: t, csrf: csrfToken(c.Value)}, nil
}

// signInData is what the sign-in page shows.
type signInData struct {
	Nonce, Next, Error string
}

func (u *UI) signInPage(w http.ResponseWriter, r *http.Request) {
	if _, err := u.visitorOf(r); err == nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	nonce := randomSecret()
	http.SetCookie(w, u.cookie(r, signInCookie, nonce, Prefix+"signin", time.Hour))
	u.render(w, r, http.StatusOK, "signin.html", page{Title: "Sign in", Data: signInData{Nonce: nonce, Next: safeNext(r.URL.Query().Get("next"))}})
}

func (u *UI) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		u.fail(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	nonce, err := r.Cookie(signInCookie)
	if err != nil || nonce.Value == "" || !equal(r.PostForm.Get("nonce"), nonce.Value) {
		u.fail(w, r, http.StatusForbidden, "The sign-in form was not sent from this server's page: reload it and try again.")
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	t, err := u.cfg.Auth.Authenticate(r.Context(), strings.TrimSpace(r.PostForm.Get("token")))
	if errors.Is(err, auth.ErrUnauthenticated) {
		u.render(w, r, http.StatusUnauthorized, "signin.html", page{Title: "Sign in",
			Data: signInData{Nonce: nonce.Value, Next: next, Error: "That is not a valid API token of this server."}})
		return
	}
	if err == nil {
		err = u.startSession(w, r, t)
	}
	if err != nil {
		u.cfg.Log.Error("ui: sign in", "err", err)
		u.fail(w, r, http.StatusInternalServerError, "The index did not answer; try again.")
		return
	}
	http.SetCookie(w, u.cookie(r, signInCookie, "", Prefix+"signin", -1))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// startSession stores a new session of t and sets its cookie.
func (u *UI) startSession(w http.ResponseWriter, r *http.Request, t *store.Token) error {
	secret, now := randomSecret(), time.Now()
	err := u.cfg.Store.CreateSession(r.Context(), &store.Session{IDHash: hashSecret(secret), TokenHash: t.Hash,
		CreatedAt: now, ExpiresAt: now.Add(u.cfg.SessionTTL)})
	if err != nil {
		return err
	}
	http.SetCookie(w, u.cookie(r, sessionCookie, secret, Prefix, u.cfg.SessionTTL))
	u.cfg.Log.Info("ui: signed in", "token", t.Name)
	return nil
}

func (u *UI) signOut(w http.ResponseWriter, r *http.Request, v *visitor) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		err := u.cfg.Store.DeleteSession(context.WithoutCancel(r.Context()), hashSecret(c.Value))
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			u.cfg.Log.Error("ui: sign out", "err", err)
			u.fail(w, r, http.StatusInternalServerError, "The index did not answer; try again.")
			return
		}
	}
	http.SetCookie(w, u.cookie(r, sessionCookie, "", Prefix, -1))
	u.cfg.Log.Info("ui: signed out", "token", v.token.Name)
	http.Redirect(w, r, Prefix+"signin", http.StatusSeeOther)
}

// cookie is one of the UI's cookies; a negative maxAge deletes it.
func (u *UI) cookie(r *http.Request, name, value, path string, maxAge time.Duration) *http.Cookie {
	c := &http.Cookie{Name: name, Value: value, Path: path, HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"}
	if maxAge < 0 {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(maxAge / time.Second)
	}
	return c
}

// randomSecret is 256 random bits, URL-safe.
func randomSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashSecret(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// csrfToken is what a session's forms carry: derived from the session's
// secret, which only its cookie holds, so that a page of another site
// cannot know it.
func csrfToken(secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("pkgserver ui csrf"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// equal compares secrets in constant time; an empty one never matches.
func equal(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// safeNext is where to go after signing in: a page of the UI, never
// another site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix) || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return Prefix
	}
	return next
}
