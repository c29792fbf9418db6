package storetest

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/store"
)

// TestRepositories tests the registry of repositories (store.Repositories):
// creation, optimistic concurrency, the server's status.
func TestRepositories[S interface {
	store.Repositories
	io.Closer
}](t *testing.T, newStore func(t *testing.T) S) {
	run(t, newStore, []test[S]{
		{"CreateGetListUpdateDelete", func(t *testing.T, s S) { testRepositories(t, s) }},
		{"Status", func(t *testing.T, s S) { testRepositoryStatus(t, s) }},
	})
}

func testRepositories(t *testing.T, s store.Repositories) {
	ctx := context.Background()
	a := mustCreate(t, s, "default", "catalog")
	if a.ID == 0 || a.Object.ResourceVersion == "" || a.Object.UID == "" || a.Object.CreationTimestamp.IsZero() {
		t.Fatalf("created repository lacks store fields: %+v", a.Object.ObjectMeta)
	}
	if err := s.CreateRepository(ctx, NewRepository("default", "catalog")); !errors.Is(err, store.ErrExists) {
		t.Errorf("second create: %v, want ErrExists", err)
	}
	mustCreate(t, s, "other", "catalog")
	mustCreate(t, s, "default", "deploy")

	got, err := s.GetRepository(ctx, "default", "catalog")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a.Object, got.Object); diff != "" {
		t.Errorf("get (-created +got):\n%s", diff)
	}
	if _, err := s.GetRepository(ctx, "default", "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get missing: %v", err)
	}
	list, err := s.ListRepositories(ctx, "default")
	if err != nil || len(list) != 2 || list[0].Object.Name != "catalog" || list[1].Object.Name != "deploy" {
		t.Errorf("list default = %v, %v", list, err)
	}
	all, _ := s.ListRepositories(ctx, "")
	if len(all) != 3 {
		t.Errorf("list all: %d", len(all))
	}

	// Optimistic concurrency.
	stale := *got
	got.Object.Spec.Deployment = true
	if err := s.UpdateRepository(ctx, got); err != nil {
		t.Fatal(err)
	}
	if got.Object.ResourceVersion == stale.Object.ResourceVersion {
		t.Error("update kept the resource version")
	}
	stale.Object.Spec.Git.Branch = "dev"
	if err := s.UpdateRepository(ctx, &stale); !errors.Is(err, store.ErrConflict) {
		t.Errorf("stale update: %v, want ErrConflict", err)
	}
	after, _ := s.GetRepository(ctx, "default", "catalog")
	if !after.Object.Spec.Deployment || after.Object.Spec.Git.Branch != "" {
		t.Errorf("stale update changed the object: %+v", after.Object.Spec)
	}
	if err := s.DeleteRepository(ctx, "default", "catalog"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRepository(ctx, "default", "catalog"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
}

func testRepositoryStatus(t *testing.T, s store.Repositories) {
	ctx := context.Background()
	r := mustCreate(t, s, "default", "cat")
	stale := r.Object.ResourceVersion
	if err := s.UpdateRepositoryStatus(ctx, "default", "cat", func(st *configv1alpha1.RepositoryStatus) {
		st.Conditions = []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Synced"}}
	}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.GetRepository(ctx, "default", "cat")
	if len(got.Object.Status.Conditions) != 1 || got.Object.ResourceVersion == stale {
		t.Errorf("status = %+v, resource version %s", got.Object.Status, got.Object.ResourceVersion)
	}
	// The status changed the resource version: a client holding the old
	// one conflicts.
	r.Object.Spec.Deployment = true
	if err := s.UpdateRepository(ctx, r); !errors.Is(err, store.ErrConflict) {
		t.Errorf("update with the version before the status change: %v", err)
	}
	if err := s.UpdateRepositoryStatus(ctx, "default", "nope", func(*configv1alpha1.RepositoryStatus) {}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("status of a missing repository: %v", err)
	}
}
