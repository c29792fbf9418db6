// Package storetest is the test suite every implementation of store.Store
// must pass, a suite per role of the store (TestRepositories, TestIndex,
// TestEvents, ...) so that a new backend is tested role by role as it is
// written; Run runs them all. Each suite takes a constructor of empty
// stores, which it closes; the suites of roles that stand alone (tokens and
// users, secrets, deliveries, repositories) take any type with the role.
package storetest

import (
	"context"
	"io"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// Run runs the suite of every role; newStore returns an empty store,
// closed by the suite.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("Repositories", func(t *testing.T) { TestRepositories(t, newStore) })
	t.Run("Index", func(t *testing.T) { TestIndex(t, newStore) })
	t.Run("Events", func(t *testing.T) { TestEvents(t, newStore) })
	t.Run("FieldManagers", func(t *testing.T) { TestFieldManagers(t, newStore) })
	t.Run("Auth", func(t *testing.T) { TestAuth(t, newStore) })
	t.Run("Sessions", func(t *testing.T) { TestSessions(t, newStore) })
	t.Run("Secrets", func(t *testing.T) { TestSecrets(t, newStore) })
	t.Run("Deliveries", func(t *testing.T) { TestDeliveries(t, newStore) })
	t.Run("PullRequestsAndChecks", func(t *testing.T) { TestChecks(t, newStore) })
	t.Run("Leases", func(t *testing.T) { TestLeases(t, newStore) })
}

// test is one test of a suite, run on a store of its own.
type test[S io.Closer] struct {
	name string
	fn   func(t *testing.T, s S)
}

// run runs the tests of a suite, each on an empty store.
func run[S io.Closer](t *testing.T, newStore func(t *testing.T) S, tests []test[S]) {
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			defer s.Close()
			tt.fn(t, s)
		})
	}
}

// NewRepository returns a repository object to register.
func NewRepository(namespace, name string) *store.Repository {
	return &store.Repository{Object: configv1alpha1.Repository{
		TypeMeta:   metav1.TypeMeta{APIVersion: configv1alpha1.APIVersion, Kind: "Repository"},
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec:       configv1alpha1.RepositorySpec{Type: "git", Git: configv1alpha1.GitSpec{URL: "https://example.com/" + name + ".git"}},
	}}
}

func mustCreate(t *testing.T, s store.Repositories, ns, name string) *store.Repository {
	t.Helper()
	r := NewRepository(ns, name)
	if err := s.CreateRepository(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return r
}

var at = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func rev(repo, pkg, ws string, lc revision.Lifecycle, n int, tree string) revision.Revision {
	r := revision.Revision{Name: revision.ObjectName(repo, pkg, ws), Package: pkg, Workspace: ws, Lifecycle: lc, Number: n,
		Commit: "c-" + tree, Tree: tree, Ref: "refs/x/" + pkg + "/" + ws}
	if lc == revision.Published {
		r.Revision, r.PublishedBy, r.PublishedAt = revision.FormatRevision(n), "Jane <jane@example.com>", at
	}
	return r
}

func blobs(m map[string]string) func(store.BlobPut) error {
	return func(put store.BlobPut) error {
		for id, data := range m {
			if err := put(id, []byte(data)); err != nil {
				return err
			}
		}
		return nil
	}
}

func revisionNames(t *testing.T, s store.Index, opts store.ListOptions) map[string]int64 {
	t.Helper()
	list, err := s.ListRevisions(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, r := range list.Items {
		out[r.Name] = r.ResourceVersion
	}
	return out
}
