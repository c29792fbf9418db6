package storetest

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pkgserver/pkgserver/internal/store"
)

// TestAuth tests the API tokens (store.Tokens) and the SSH users with their
// keys (store.Users).
func TestAuth[S interface {
	store.Auth
	io.Closer
}](t *testing.T, newStore func(t *testing.T) S) {
	run(t, newStore, []test[S]{
		{"Tokens", func(t *testing.T, s S) { testTokens(t, s) }},
		{"Users", func(t *testing.T, s S) { testUsers(t, s) }},
	})
}

func testTokens(t *testing.T, s store.Tokens) {
	ctx := context.Background()
	tok := &store.Token{Name: "ci", Hash: "abc", Namespace: "team-a", Role: store.RoleWrite, CreatedAt: at}
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateToken(ctx, &store.Token{Name: "ci", Hash: "def", Namespace: "x", Role: store.RoleRead, CreatedAt: at}); !errors.Is(err, store.ErrExists) {
		t.Errorf("second token of a name: %v", err)
	}
	got, err := s.TokenByHash(ctx, "abc")
	if err != nil || !cmp.Equal(*tok, *got) {
		t.Errorf("TokenByHash = %+v, %v", got, err)
	}
	if _, err := s.TokenByHash(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown hash: %v", err)
	}
	list, _ := s.ListTokens(ctx)
	if len(list) != 1 {
		t.Errorf("tokens: %v", list)
	}
	if err := s.DeleteToken(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TokenByHash(ctx, "abc"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoked token still found: %v", err)
	}
	if err := s.DeleteToken(ctx, "ci"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second revoke: %v", err)
	}
}

func sshKey(fp string) store.SSHKey {
	return store.SSHKey{Fingerprint: "SHA256:" + fp, AuthorizedKey: "ssh-ed25519 AAAA" + fp, Comment: fp + "@example.com"}
}

func testUsers(t *testing.T, s store.Users) {
	ctx := context.Background()
	bob := &store.User{Name: "bob", Namespace: store.AllNamespaces, Role: store.RoleAdmin, CreatedAt: at,
		Keys: []store.SSHKey{sshKey("b2"), sshKey("b1")}}
	alice := &store.User{Name: "alice", Namespace: "team-a", Role: store.RoleWrite, CreatedAt: at,
		Keys: []store.SSHKey{sshKey("a1")}}
	for _, u := range []*store.User{bob, alice} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateUser(ctx, &store.User{Name: "alice", Namespace: "x", Role: store.RoleRead, CreatedAt: at,
		Keys: []store.SSHKey{sshKey("a2")}}); !errors.Is(err, store.ErrExists) {
		t.Errorf("second user of a name: %v", err)
	}
	// A key identifies one user: carol, who reuses one of bob's, is refused
	// whole, her other key with her.
	if err := s.CreateUser(ctx, &store.User{Name: "carol", Namespace: "x", Role: store.RoleRead, CreatedAt: at,
		Keys: []store.SSHKey{sshKey("c1"), sshKey("b1")}}); !errors.Is(err, store.ErrExists) {
		t.Errorf("a user with another's key: %v", err)
	}
	if _, err := s.UserByKey(ctx, "SHA256:c1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("key of a refused user: %v", err)
	}
	if _, err := s.UserByKey(ctx, "SHA256:a2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("key of a refused duplicate name: %v", err)
	}

	wantBob := store.User{Name: "bob", Namespace: store.AllNamespaces, Role: store.RoleAdmin, CreatedAt: at,
		Keys: []store.SSHKey{sshKey("b1"), sshKey("b2")}}
	got, err := s.UserByKey(ctx, "SHA256:b2")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantBob, *got); diff != "" {
		t.Errorf("UserByKey (-want +got):\n%s", diff)
	}
	if _, err := s.UserByKey(ctx, "SHA256:nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown key: %v", err)
	}
	list, err := s.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]store.User{*alice, wantBob}, list); diff != "" {
		t.Errorf("ListUsers (-want +got):\n%s", diff)
	}

	if err := s.DeleteUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	for _, fp := range []string{"SHA256:b1", "SHA256:b2"} {
		if _, err := s.UserByKey(ctx, fp); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("key %s of a deleted user: %v", fp, err)
		}
	}
	if err := s.DeleteUser(ctx, "bob"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	// The keys went with the user: they may be a new user's.
	if err := s.CreateUser(ctx, &store.User{Name: "carol", Namespace: "x", Role: store.RoleRead, CreatedAt: at,
		Keys: []store.SSHKey{sshKey("b1")}}); err != nil {
		t.Errorf("a deleted user's key for a new user: %v", err)
	}
	list, _ = s.ListUsers(ctx)
	if len(list) != 2 || list[0].Name != "alice" || list[1].Name != "carol" {
		t.Errorf("users after delete: %+v", list)
	}
}
