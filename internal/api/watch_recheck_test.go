package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pkgserver/pkgserver/internal/auth"
	"github.com/pkgserver/pkgserver/internal/store"
)

// SetTokenRecheck sets how often open watches check their token again, for
// the tests of the package, and returns what puts it back.
func SetTokenRecheck(d time.Duration) (restore func()) {
	old := tokenRecheck
	tokenRecheck = d
	return func() { tokenRecheck = old }
}

// flakyTokens is a token store whose answers the test sets.
type flakyTokens struct {
	mu    sync.Mutex
	token *store.Token
	err   error
}

func (f *flakyTokens) TokenByHash(context.Context, string) (*store.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.token, f.err
}

// TestRecheckToken: a watch's token checked again ends the watch only when
// the token is no longer valid; an error of the store (SQLite busy during a
// heavy push) is logged and the watch stays open.
func TestRecheckToken(t *testing.T) {
	tok, _, err := auth.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	tokens := &flakyTokens{}
	a := auth.NewAuthenticator(tokens)
	s := &Server{auth: a, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctxOf := func() echo.Context {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		return echo.New().NewContext(req, httptest.NewRecorder())
	}

	tokens.err = errors.New("database is locked (SQLITE_BUSY)")
	if err := s.recheckToken(ctxOf()); err != nil {
		t.Errorf("a store error ends the watch: %v", err)
	}
	tokens.err = store.ErrNotFound
	err = s.recheckToken(ctxOf())
	var se *statusError
	if !errors.As(err, &se) || se.status.Code != http.StatusUnauthorized {
		t.Errorf("a revoked token: %v, want a 401 status", err)
	}
}
