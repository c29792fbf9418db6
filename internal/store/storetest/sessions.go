package storetest

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pkgserver/pkgserver/internal/store"
)

// sessionStore is what the suite of sessions needs: sessions, and the
// tokens they are made with.
type sessionStore interface {
	store.Sessions
	store.Tokens
	io.Closer
}

// TestSessions tests the web UI's sessions (store.Sessions): each made with
// an API token, ending when it expires, when its token is deleted, or when
// it is deleted (signing out).
func TestSessions[S sessionStore](t *testing.T, newStore func(t *testing.T) S) {
	run(t, newStore, []test[S]{
		{"CreateAndGet", func(t *testing.T, s S) { testSessionCreateAndGet(t, s) }},
		{"Expiry", func(t *testing.T, s S) { testSessionExpiry(t, s) }},
		{"TokenDeleted", func(t *testing.T, s S) { testSessionTokenDeleted(t, s) }},
		{"SignOut", func(t *testing.T, s S) { testSessionSignOut(t, s) }},
	})
}

// mustToken stores a token of a name and hash.
func mustToken(t *testing.T, s store.Tokens, name, hash string) *store.Token {
	t.Helper()
	tok := &store.Token{Name: name, Hash: hash, Namespace: "team-" + name, Role: store.RoleWrite, CreatedAt: at}
	if err := s.CreateToken(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	return tok
}

// mustSession stores a session made with a token's hash at at, expiring
// after ttl.
func mustSession(t *testing.T, s store.Sessions, idHash, tokenHash string, ttl time.Duration) *store.Session {
	t.Helper()
	sess := &store.Session{IDHash: idHash, TokenHash: tokenHash, CreatedAt: at, ExpiresAt: at.Add(ttl)}
	if err := s.CreateSession(context.Background(), sess); err != nil {
		t.Fatal(err)
	}
	return sess
}

// wantNoSession fails t unless GetSession finds no session of a hash at now.
func wantNoSession(t *testing.T, s store.Sessions, idHash string, now time.Time, why string) {
	t.Helper()
	if sess, _, err := s.GetSession(context.Background(), idHash, now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSession(%s) %s = %+v, %v; want ErrNotFound", idHash, why, sess, err)
	}
}

// testSessionCreateAndGet: a session is read back with its token; an
// unknown hash, a session of an unknown token and a second session of one
// hash are refused.
func testSessionCreateAndGet(t *testing.T, s sessionStore) {
	ctx := context.Background()
	tok := mustToken(t, s, "ci", "token-a")
	want := &store.Session{IDHash: "session-1", TokenHash: "token-a", CreatedAt: at.Add(123 * time.Millisecond), ExpiresAt: at.Add(time.Hour)}
	if err := s.CreateSession(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, gotTok, err := s.GetSession(ctx, "session-1", at.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("GetSession: session (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(gotTok, tok); diff != "" {
		t.Errorf("GetSession: token (-got +want):\n%s", diff)
	}
	wantNoSession(t, s, "session-2", at, "of an unknown hash")

	unknown := &store.Session{IDHash: "session-2", TokenHash: "no-token", CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
	if err := s.CreateSession(ctx, unknown); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateSession with an unknown token: %v; want ErrNotFound", err)
	}
	wantNoSession(t, s, "session-2", at, "refused for its unknown token")

	mustToken(t, s, "other", "token-b")
	again := &store.Session{IDHash: "session-1", TokenHash: "token-b", CreatedAt: at, ExpiresAt: at.Add(2 * time.Hour)}
	if err := s.CreateSession(ctx, again); !errors.Is(err, store.ErrExists) {
		t.Errorf("CreateSession of a taken hash: %v; want ErrExists", err)
	}
	if got, _, err := s.GetSession(ctx, "session-1", at); err != nil || !cmp.Equal(got, want) {
		t.Errorf("GetSession after a second session of its hash was refused = %+v, %v; want %+v", got, err, want)
	}
}

// testSessionExpiry: a session is found until its expiry, not from then on,
// and DeleteExpiredSessions removes exactly those expired.
func testSessionExpiry(t *testing.T, s sessionStore) {
	ctx := context.Background()
	mustToken(t, s, "ci", "token-a")
	mustSession(t, s, "short", "token-a", time.Minute)
	mustSession(t, s, "shorter", "token-a", time.Second)
	mustSession(t, s, "long", "token-a", time.Hour)
	end := at.Add(time.Minute)
	if _, _, err := s.GetSession(ctx, "short", end.Add(-time.Millisecond)); err != nil {
		t.Errorf("GetSession a millisecond before its expiry: %v", err)
	}
	wantNoSession(t, s, "short", end, "at its expiry")
	wantNoSession(t, s, "short", end.Add(time.Hour), "after its expiry")

	n, err := s.DeleteExpiredSessions(ctx, end)
	if err != nil || n != 2 {
		t.Fatalf("DeleteExpiredSessions = %d, %v; want 2", n, err)
	}
	for _, id := range []string{"short", "shorter"} {
		if err := s.DeleteSession(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteSession(%s) after its removal: %v; want ErrNotFound", id, err)
		}
	}
	if _, _, err := s.GetSession(ctx, "long", end); err != nil {
		t.Errorf("GetSession of a session not yet expired, after DeleteExpiredSessions: %v", err)
	}
	if n, err := s.DeleteExpiredSessions(ctx, end); err != nil || n != 0 {
		t.Errorf("DeleteExpiredSessions again = %d, %v; want 0", n, err)
	}
}

// testSessionTokenDeleted: deleting a token deletes its sessions (a token
// of the same hash made again does not bring them back), and no others.
func testSessionTokenDeleted(t *testing.T, s sessionStore) {
	ctx := context.Background()
	mustToken(t, s, "ci", "token-a")
	mustToken(t, s, "other", "token-b")
	mustSession(t, s, "a-1", "token-a", time.Hour)
	mustSession(t, s, "a-2", "token-a", time.Hour)
	mustSession(t, s, "b-1", "token-b", time.Hour)
	if err := s.DeleteToken(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	wantNoSession(t, s, "a-1", at, "after its token was deleted")
	mustToken(t, s, "ci-again", "token-a")
	for _, id := range []string{"a-1", "a-2"} {
		wantNoSession(t, s, id, at, "after its token was deleted and one of its hash made again")
		if err := s.DeleteSession(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteSession(%s) after its token was deleted: %v; want ErrNotFound", id, err)
		}
	}
	if _, tok, err := s.GetSession(ctx, "b-1", at); err != nil || tok.Name != "other" {
		t.Errorf("GetSession of another token's session = token %+v, %v; want token other", tok, err)
	}
}

// testSessionSignOut: a deleted session is not found, and cannot be
// deleted again; the token's other sessions stay.
func testSessionSignOut(t *testing.T, s sessionStore) {
	ctx := context.Background()
	mustToken(t, s, "ci", "token-a")
	mustSession(t, s, "laptop", "token-a", time.Hour)
	mustSession(t, s, "phone", "token-a", time.Hour)
	if err := s.DeleteSession(ctx, "laptop"); err != nil {
		t.Fatal(err)
	}
	wantNoSession(t, s, "laptop", at, "after signing out")
	if err := s.DeleteSession(ctx, "laptop"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteSession: %v; want ErrNotFound", err)
	}
	if err := s.DeleteSession(ctx, "unknown"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteSession of an unknown hash: %v; want ErrNotFound", err)
	}
	if _, _, err := s.GetSession(ctx, "phone", at); err != nil {
		t.Errorf("GetSession of the token's other session: %v", err)
	}
}
