package storetest

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/pkgserver/pkgserver/internal/store"
)

// TestSecrets tests the sealed credentials (store.Secrets).
func TestSecrets[S interface {
	store.Secrets
	io.Closer
}](t *testing.T, newStore func(t *testing.T) S) {
	run(t, newStore, []test[S]{
		{"PutGetListDelete", func(t *testing.T, s S) { testSecrets(t, s) }},
	})
}

func testSecrets(t *testing.T, s store.Secrets) {
	ctx := context.Background()
	if err := s.PutSecret(ctx, "default", "git", []byte("sealed-1")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSecret(ctx, "default", "git", []byte("sealed-2")); err != nil {
		t.Fatal(err)
	}
	if data, err := s.GetSecret(ctx, "default", "git"); err != nil || string(data) != "sealed-2" {
		t.Errorf("GetSecret = %q, %v", data, err)
	}
	if _, err := s.GetSecret(ctx, "other", "git"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("secret of another namespace: %v", err)
	}
	refs, _ := s.ListSecrets(ctx)
	if len(refs) != 1 || refs[0].Name != "git" {
		t.Errorf("secrets: %v", refs)
	}
	if err := s.DeleteSecret(ctx, "default", "git"); err != nil {
		t.Fatal(err)
	}
}
