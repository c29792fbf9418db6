package sqlstore

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/store"
)

// TestReadOwnWritesAcrossStores: the generation of one Store's cached
// revisions holds while nothing is written, and ends at once, without
// waiting for a notification, when another Store on the same PostgreSQL
// database has written.
func TestReadOwnWritesAcrossStores(t *testing.T) {
	ctx := context.Background()
	url := pg.Database(t)
	a, b := openPostgres(t, url), openPostgres(t, url)
	gen := b.RevisionGeneration()
	if again := b.RevisionGeneration(); again != gen {
		t.Fatalf("the generation moved without a write: %d, %d", gen, again)
	}
	for i, name := range []string{"one", "two", "three"} {
		repo := &store.Repository{Object: configv1alpha1.Repository{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
			Spec: configv1alpha1.RepositorySpec{Provider: configv1alpha1.ProviderGit, Git: configv1alpha1.GitSpec{URL: "/tmp/x"}}}}
		if err := a.CreateRepository(ctx, repo); err != nil {
			t.Fatal(err)
		}
		next := b.RevisionGeneration()
		if next == gen {
			t.Fatalf("write %d through another Store: the generation did not end", i)
		}
		gen = next
	}
}
