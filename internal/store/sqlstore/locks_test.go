package sqlstore

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/store"
)

// TestRepositoryLocks: a repository's lock is held by one Store at a time,
// another waits until it is released or its context ends; and more writes
// holding locks at once than the Store's pool has connections still
// finish, their locks kept on connections of their own.
func TestRepositoryLocks(t *testing.T) {
	ctx := context.Background()
	url := pg.Database(t)
	a, b := openPostgres(t, url), openPostgres(t, url)
	release, err := a.LockRepository(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := b.LockRepository(short, 1); err == nil {
		t.Fatal("two Stores held one repository's lock")
	}
	other, err := b.LockRepository(ctx, 2)
	if err != nil {
		t.Fatalf("another repository's lock: %v", err)
	}
	other()
	got := make(chan func(), 1)
	go func() {
		r, err := b.LockRepository(ctx, 1)
		if err != nil {
			t.Error(err)
			r = func() {}
		}
		got <- r
	}()
	select {
	case <-got:
		t.Fatal("the lock was taken while held")
	case <-time.After(200 * time.Millisecond):
	}
	release()
	select {
	case r := <-got:
		r()
	case <-time.After(10 * time.Second):
		t.Fatal("the lock was not taken once released")
	}

	// 24 writers, each holding its repository's lock while it writes.
	var wg sync.WaitGroup
	done := make(chan struct{})
	for i := range 24 {
		wg.Go(func() {
			r, err := a.LockRepository(ctx, int64(100+i))
			if err != nil {
				t.Error(err)
				return
			}
			defer r()
			repo := &store.Repository{Object: configv1alpha1.Repository{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("r%d", i)},
				Spec: configv1alpha1.RepositorySpec{Provider: configv1alpha1.ProviderGit, Git: configv1alpha1.GitSpec{URL: "/tmp/x"}}}}
			time.Sleep(50 * time.Millisecond)
			if err := a.CreateRepository(ctx, repo); err != nil {
				t.Error(err)
			}
		})
	}
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("writers holding locks waited for each other's connections")
	}
}

// TestManyListsAtOnce: more lists at once than the pool has connections,
// each with a query not yet prepared, all finish: a transaction never
// waits for a second connection to prepare its statements.
func TestManyListsAtOnce(t *testing.T) {
	ctx := context.Background()
	s := openPostgres(t, pg.Database(t))
	for round := range 5 {
		var wg sync.WaitGroup
		done := make(chan struct{})
		for i := range 32 {
			wg.Go(func() {
				// Options of their own make queries of their own.
				opts := store.ListOptions{Namespace: "default", Package: fmt.Sprintf("p%d", i), Limit: 1 + round*32 + i}
				if _, err := s.ListRevisions(ctx, opts); err != nil {
					t.Error(err)
				}
			})
		}
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: lists waited for each other's connections", round)
		}
	}
}
