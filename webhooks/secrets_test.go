package webhooks_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pkgserver/pkgserver/internal/auth"
	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/store"
)

// TestSecretChanged: a receiver reads a repository's webhook secret once
// for a burst of deliveries. When the secret changes, deliveries signed
// with the new one are taken at once; those signed with the old one are
// refused, and not stored, once the read secret is a second old.
func TestSecretChanged(t *testing.T) {
	f := setup(t)
	body := payload(t, "github-push.json", "refs/heads/main", f.remote.Rev("main"))
	if code := f.deliver("/webhooks/github/default/gh", body, githubHeaders("push", "before", body, secret)); code != 202 {
		t.Fatalf("a delivery with the secret: %d", code)
	}
	keys, err := auth.LoadKeyring(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	const newSecret = "a new secret"
	sealed, err := keys.Seal("default", "hooks", gitrepo.Credentials{Token: newSecret})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.PutSecret(context.Background(), "default", "hooks", sealed); err != nil {
		t.Fatal(err)
	}
	changed := time.Now()
	if code := f.deliver("/webhooks/github/default/gh", body, githubHeaders("push", "new", body, newSecret)); code != 202 {
		t.Errorf("a delivery with the new secret, at once: %d", code)
	}
	time.Sleep(time.Until(changed.Add(1100 * time.Millisecond)))
	if code := f.deliver("/webhooks/github/default/gh", body, githubHeaders("push", "old", body, secret)); code != 401 {
		t.Errorf("a delivery with the old secret a second later: %d, want 401", code)
	}
	if _, err := f.store.GetDelivery(context.Background(), "github", "old"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the delivery with the old secret was stored (%v)", err)
	}
	if code := f.deliver("/webhooks/github/default/gh", body, githubHeaders("push", "new-2", body, newSecret)); code != 202 {
		t.Errorf("another delivery with the new secret: %d", code)
	}
}
