// Package storetest is the test suite every implementation of store.Store
// must pass: run it with a constructor of empty stores.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// Run runs the suite; newStore returns an empty store, closed by the suite.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Repositories", testRepositories},
		{"IndexUpdates", testIndexUpdates},
		{"FailedUpdateChangesNothing", testFailedUpdate},
		{"ListAndPaginate", testList},
		{"FullReplaceAndGarbage", testFullReplace},
		{"DeleteRepositoryRemovesIndex", testDeleteRepository},
		{"EventsAndWatchPoints", testEvents},
		{"ChangeEvents", testChangeEvents},
		{"TokensAndSecrets", testTokensAndSecrets},
		{"Users", testUsers},
		{"RepositoryStatus", testRepositoryStatus},
		{"Deliveries", testDeliveries},
		{"PullRequestsAndChecks", testPullRequestsAndChecks},
		{"MetaLabelsAndValidations", testMeta},
		{"ManagedFields", testManagedFields},
	}
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

func mustCreate(t *testing.T, s store.Store, ns, name string) *store.Repository {
	t.Helper()
	r := NewRepository(ns, name)
	if err := s.CreateRepository(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return r
}

func testRepositories(t *testing.T, s store.Store) {
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

func revisionNames(t *testing.T, s store.Store, opts store.ListOptions) map[string]int64 {
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

func testIndexUpdates(t *testing.T, s store.Store) {
	ctx := context.Background()
	repo := mustCreate(t, s, "default", "cat")
	v1 := rev("cat", "nginx", "v1", revision.Published, 1, "t1")
	v1.PullRequest = 4
	draft := rev("cat", "nginx", "ws", revision.Draft, 0, "t2")
	redis := rev("cat", "redis", "v1", revision.Published, 1, "t3")
	redis.Latest = true
	obs := revision.Observation{Source: revision.Source{Kind: revision.KindTag, Ref: "refs/tags/nginx/v1", Package: "nginx", Revision: "v1", Number: 1},
		Commit: "c1", Tree: "t1", By: "Jane <jane@example.com>", At: at, PublishedWorkspace: "w", PullRequest: 4}
	branchObs := revision.Observation{Source: revision.Source{Kind: revision.KindBranch, Package: "nginx"}, Commit: "c9", Tree: "t1", By: "Joe", At: at}
	err := s.UpdateIndex(ctx, repo.ID, &store.IndexUpdate{
		Refs: []store.RefRecord{
			{Name: "refs/tags/nginx/v1", Target: "c1", Contract: true, Observation: obs},
			{Name: "refs/heads/feature", Target: "c7"},
		},
		BranchCommit: "c9",
		Branch:       []revision.Observation{branchObs},
		Trees: []store.Tree{
			{ID: "t1", Files: []store.File{{Path: "Kptfile", Mode: 0o100644, BlobID: "b1"}, {Path: "svc/a.yaml", Mode: 0o100644, BlobID: "b2"}}},
			{ID: "t2", Files: []store.File{{Path: "Kptfile", Mode: 0o100644, BlobID: "b1"}}},
			{ID: "t3", Files: []store.File{{Path: "Kptfile", Mode: 0o100644, BlobID: "b3"}}},
		},
		Blobs:    blobs(map[string]string{"b1": "kind: Kptfile\n", "b2": "kind: Service\n", "b3": "redis\n"}),
		Packages: map[string][]revision.Revision{"nginx": {v1, draft}, "redis": {redis}},
		Problems: map[string][]revision.Problem{"x": {{Ref: "refs/heads/drafts/x/ws", Package: "x", Message: "bad"}}},
		RefsHash: "h1",
		SyncedAt: at,
	})
	if err != nil {
		t.Fatal(err)
	}
	refs, err := s.Refs(ctx, repo.ID)
	if err != nil || len(refs) != 2 {
		t.Fatalf("refs = %v, %v", refs, err)
	}
	if diff := cmp.Diff(obs, refs[1].Observation); diff != "" || !refs[1].Contract || refs[0].Contract {
		t.Errorf("stored observation (-want +got):\n%s", diff)
	}
	if h, _ := s.RefsHash(ctx, repo.ID); h != "h1" {
		t.Errorf("refs hash = %q", h)
	}
	gotObs, err := s.Observations(ctx, repo.ID, []string{"nginx"})
	if err != nil || len(gotObs) != 2 {
		t.Fatalf("observations = %v, %v", gotObs, err)
	}
	commit, branch, err := s.BranchPackages(ctx, repo.ID)
	if err != nil || commit != "c9" || len(branch) != 1 || branch[0].Tree != "t1" || branch[0].By != "Joe" || !branch[0].At.Equal(at) {
		t.Errorf("branch = %s %+v %v", commit, branch, err)
	}
	r, err := s.GetRevision(ctx, "default", "cat.nginx.v1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(v1, r.Revision); diff != "" || r.Namespace != "default" || r.Repository != "cat" {
		t.Errorf("revision (-want +got):\n%s", diff)
	}
	res, err := s.Resources(ctx, "default", "cat.nginx.v1")
	if diff := cmp.Diff(map[string][]byte{"Kptfile": []byte("kind: Kptfile\n"), "svc/a.yaml": []byte("kind: Service\n")}, res); diff != "" || err != nil {
		t.Errorf("resources (-want +got): %v\n%s", err, diff)
	}
	missing, _ := s.MissingTrees(ctx, []string{"t1", "t9", "t9"})
	if diff := cmp.Diff([]string{"t9"}, missing); diff != "" {
		t.Errorf("missing trees: %s", diff)
	}
	missing, _ = s.MissingBlobs(ctx, []string{"b1", "b4"})
	if diff := cmp.Diff([]string{"b4"}, missing); diff != "" {
		t.Errorf("missing blobs: %s", diff)
	}
	got, _ := s.GetRepository(ctx, "default", "cat")
	if st := got.Object.Status; st.PackageCount != 2 || st.Commit != "c9" || st.LastSyncTime == nil ||
		!cmp.Equal(st.Problems, []string{"refs/heads/drafts/x/ws: bad"}) {
		t.Errorf("status = %+v", st)
	}

	// A second update touching only nginx: the draft changes, v1 does not,
	// redis is left alone.
	before := revisionNames(t, s, store.ListOptions{Namespace: "default"})
	if r, err := s.GetRevision(ctx, "default", "cat.nginx.ws"); err != nil || r.Tree != "t2" {
		t.Fatalf("draft = %+v, %v", r, err)
	}
	draft2 := draft
	draft2.Tree, draft2.Commit = "t4", "c-t4"
	err = s.UpdateIndex(ctx, repo.ID, &store.IndexUpdate{
		Refs:        []store.RefRecord{{Name: "refs/heads/drafts/nginx/ws", Target: "c4", Contract: true}},
		DeletedRefs: []string{"refs/heads/feature"},
		Trees:       []store.Tree{{ID: "t4", Files: []store.File{{Path: "Kptfile", Mode: 0o100644, BlobID: "b4"}}}},
		Blobs:       blobs(map[string]string{"b4": "new\n"}),
		Packages:    map[string][]revision.Revision{"nginx": {v1, draft2}},
		RefsHash:    "h2",
	})
	if err != nil {
		t.Fatal(err)
	}
	// A revision read before the update is read anew after it.
	if r, err := s.GetRevision(ctx, "default", "cat.nginx.ws"); err != nil || r.Tree != "t4" {
		t.Errorf("revision after update: %+v, %v", r, err)
	}
	after := revisionNames(t, s, store.ListOptions{Namespace: "default"})
	if after["cat.nginx.v1"] != before["cat.nginx.v1"] || after["cat.redis.v1"] != before["cat.redis.v1"] {
		t.Errorf("unchanged revisions got new resource versions: %v -> %v", before, after)
	}
	if after["cat.nginx.ws"] <= before["cat.nginx.ws"] {
		t.Errorf("changed revision kept its resource version: %v -> %v", before, after)
	}
	// t2 is no longer used: its files go, b1 stays (t1 uses it).
	if m, _ := s.MissingTrees(ctx, []string{"t2"}); len(m) != 1 {
		t.Error("unused tree t2 was kept")
	}
	if m, _ := s.MissingBlobs(ctx, []string{"b1"}); len(m) != 0 {
		t.Error("blob b1, still used by t1, was deleted")
	}
	refs, _ = s.Refs(ctx, repo.ID)
	if len(refs) != 2 || refs[0].Name != "refs/heads/drafts/nginx/ws" {
		t.Errorf("refs after update: %v", refs)
	}

	// Removing every revision of a package removes the package; problems
	// are replaced per package.
	if err := s.UpdateIndex(ctx, repo.ID, &store.IndexUpdate{Packages: map[string][]revision.Revision{"redis": nil},
		Problems: map[string][]revision.Problem{"x": nil}}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetRepository(ctx, "default", "cat")
	if got.Object.Status.PackageCount != 1 || got.Object.Status.Problems != nil {
		t.Errorf("status = %+v", got.Object.Status)
	}
	if m, _ := s.MissingBlobs(ctx, []string{"b3"}); len(m) != 1 {
		t.Error("blob b3 of the removed package was kept")
	}
}

func testFailedUpdate(t *testing.T, s store.Store) {
	ctx := context.Background()
	repo := mustCreate(t, s, "default", "cat")
	before, _ := s.GetRepository(ctx, "default", "cat")
	err := s.UpdateIndex(ctx, repo.ID, &store.IndexUpdate{
		Refs:  []store.RefRecord{{Name: "refs/tags/a/v1", Target: "c1", Contract: true}},
		Trees: []store.Tree{{ID: "t1", Files: []store.File{{Path: "Kptfile", BlobID: "b1"}}}},
		Blobs: func(put store.BlobPut) error {
			if err := put("b1", []byte("x")); err != nil {
				return err
			}
			return errors.New("git went away")
		},
		Packages: map[string][]revision.Revision{"a": {rev("cat", "a", "v1", revision.Published, 1, "t1")}},
	})
	if err == nil {
		t.Fatal("update succeeded")
	}
	refs, _ := s.Refs(ctx, repo.ID)
	list, _ := s.ListRevisions(ctx, store.ListOptions{})
	missingT, _ := s.MissingTrees(ctx, []string{"t1"})
	missingB, _ := s.MissingBlobs(ctx, []string{"b1"})
	after, _ := s.GetRepository(ctx, "default", "cat")
	if len(refs) != 0 || len(list.Items) != 0 || len(missingT) != 1 || len(missingB) != 1 || after.Object.ResourceVersion != before.Object.ResourceVersion {
		t.Errorf("a failed update left traces: refs %v, revisions %v, trees %v, blobs %v, rv %s -> %s",
			refs, list.Items, missingT, missingB, before.Object.ResourceVersion, after.Object.ResourceVersion)
	}
}

func testList(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, ns := range []string{"a", "b"} {
		repo := mustCreate(t, s, ns, "cat")
		pkgs := map[string][]revision.Revision{}
		for i := range 5 {
			pkg := fmt.Sprintf("p%d", i)
			v1 := rev("cat", pkg, "v1", revision.Published, 1, "t")
			v2 := rev("cat", pkg, "v2", revision.Published, 2, "t")
			v2.Latest = true
			pkgs[pkg] = []revision.Revision{v1, v2, rev("cat", pkg, "draft", revision.Draft, 0, "t")}
		}
		if err := s.UpdateIndex(ctx, repo.ID, &store.IndexUpdate{Packages: pkgs,
			Trees: []store.Tree{{ID: "t", Files: []store.File{{Path: "Kptfile", BlobID: "b"}}}}, Blobs: blobs(map[string]string{"b": "x"})}); err != nil {
			t.Fatal(err)
		}
	}
	yes := true
	for _, tc := range []struct {
		opts store.ListOptions
		want int
	}{
		{store.ListOptions{}, 30},
		{store.ListOptions{Namespace: "a"}, 15},
		{store.ListOptions{Namespace: "a", Package: "p3"}, 3},
		{store.ListOptions{Lifecycle: "Draft"}, 10},
		{store.ListOptions{Namespace: "b", Revision: "v2"}, 5},
		{store.ListOptions{Namespace: "b", Workspace: "draft", Package: "p0"}, 1},
		{store.ListOptions{Latest: &yes}, 10},
		{store.ListOptions{Repository: "nope"}, 0},
	} {
		list, err := s.ListRevisions(ctx, tc.opts)
		if err != nil || len(list.Items) != tc.want {
			t.Errorf("%+v: %v, want %d revisions", tc.opts, err, tc.want)
		}
	}
	// Pages of 7 cover everything once, in order.
	var seen []string
	opts := store.ListOptions{Limit: 7}
	for page := 0; ; page++ {
		list, err := s.ListRevisions(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		next := list.Continue
		for _, r := range list.Items {
			seen = append(seen, r.Namespace+"/"+r.Name)
		}
		if next == "" {
			break
		}
		if page > 10 {
			t.Fatal("pagination does not end")
		}
		opts.Continue = next
	}
	if len(seen) != 30 {
		t.Fatalf("paginated %d revisions, want 30", len(seen))
	}
	for i := 1; i < len(seen); i++ {
		if seen[i-1] >= seen[i] {
			t.Fatalf("order broken at %s, %s", seen[i-1], seen[i])
		}
	}
	if _, err := s.ListRevisions(ctx, store.ListOptions{Continue: "!!"}); !errors.Is(err, store.ErrInvalidContinue) {
		t.Error("a forged continue token was accepted")
	}
	if _, err := s.GetRevision(ctx, "a", "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get missing: %v", err)
	}
}

func testFullReplace(t *testing.T, s store.Store) {
	ctx := context.Background()
	repo := mustCreate(t, s, "default", "cat")
	first := &store.IndexUpdate{
		Refs:     []store.RefRecord{{Name: "refs/tags/a/v1", Target: "c1", Contract: true}},
		Branch:   []revision.Observation{{Source: revision.Source{Kind: revision.KindBranch, Package: "a"}, Tree: "t1"}},
		Trees:    []store.Tree{{ID: "t1", Files: []store.File{{Path: "Kptfile", BlobID: "b1"}}}},
		Blobs:    blobs(map[string]string{"b1": "x"}),
		Packages: map[string][]revision.Revision{"a": {rev("cat", "a", "v1", revision.Published, 1, "t1")}},
	}
	if err := s.UpdateIndex(ctx, repo.ID, first); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateIndex(ctx, repo.ID, &store.IndexUpdate{
		Full:     true,
		Refs:     []store.RefRecord{{Name: "refs/tags/b/v1", Target: "c2", Contract: true}},
		Trees:    []store.Tree{{ID: "t2", Files: []store.File{{Path: "Kptfile", BlobID: "b2"}}}},
		Blobs:    blobs(map[string]string{"b2": "y"}),
		Packages: map[string][]revision.Revision{"b": {rev("cat", "b", "v1", revision.Published, 1, "t2")}},
	}); err != nil {
		t.Fatal(err)
	}
	names := revisionNames(t, s, store.ListOptions{})
	if len(names) != 1 || names["cat.b.v1"] == 0 {
		t.Errorf("after a full replace: %v", names)
	}
	refs, _ := s.Refs(ctx, repo.ID)
	_, branch, _ := s.BranchPackages(ctx, repo.ID)
	if len(refs) != 1 || refs[0].Name != "refs/tags/b/v1" || len(branch) != 0 {
		t.Errorf("refs %v, branch %v", refs, branch)
	}
	if m, _ := s.MissingBlobs(ctx, []string{"b1", "b2"}); len(m) != 1 || m[0] != "b1" {
		t.Errorf("missing blobs %v, want b1 collected", m)
	}
}

func testDeleteRepository(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := mustCreate(t, s, "default", "a")
	b := mustCreate(t, s, "default", "b")
	shared := store.Tree{ID: "t", Files: []store.File{{Path: "Kptfile", BlobID: "b"}}}
	for _, repo := range []*store.Repository{a, b} {
		if err := s.UpdateIndex(ctx, repo.ID, &store.IndexUpdate{
			Refs:  []store.RefRecord{{Name: "refs/tags/p/v1", Target: "c", Contract: true}},
			Trees: []store.Tree{shared}, Blobs: blobs(map[string]string{"b": "x"}),
			Packages: map[string][]revision.Revision{"p": {rev(repo.Object.Name, "p", "v1", revision.Published, 1, "t")}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.GetRevision(ctx, "default", "a.p.v1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRepository(ctx, "default", "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetRevision(ctx, "default", "a.p.v1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a revision of the deleted repository: %v", err)
	}
	names := revisionNames(t, s, store.ListOptions{})
	if len(names) != 1 || names["b.p.v1"] == 0 {
		t.Errorf("revisions after delete: %v", names)
	}
	if m, _ := s.MissingTrees(ctx, []string{"t"}); len(m) != 0 {
		t.Error("a tree still used by another repository was collected")
	}
	if _, err := s.Refs(ctx, a.ID); err != nil {
		t.Error(err)
	}
	if err := s.DeleteRepository(ctx, "default", "b"); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.MissingBlobs(ctx, []string{"b"}); len(m) != 1 {
		t.Error("the last user's blob was kept")
	}
}

func testEvents(t *testing.T, s store.Store) {
	ctx := context.Background()
	repo := mustCreate(t, s, "default", "cat")
	start, err := s.ResourceVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	changed := s.Changed()
	tree := []store.Tree{{ID: "t", Files: []store.File{{Path: "Kptfile", BlobID: "b"}}}}
	a := rev("cat", "a", "v1", revision.Published, 1, "t")
	b := rev("cat", "b", "v1", revision.Published, 1, "t")
	if err := s.UpdateIndex(ctx, repo.ID, &store.IndexUpdate{Trees: tree, Blobs: blobs(map[string]string{"b": "x"}),
		Packages: map[string][]revision.Revision{"a": {a}, "b": {b}}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	default:
		t.Error("a write did not signal a change")
	}
	list, err := s.ListRevisions(ctx, store.ListOptions{})
	if err != nil || list.ResourceVersion <= start {
		t.Fatalf("list resource version %d after %d: %v", list.ResourceVersion, start, err)
	}
	a2 := a
	a2.Latest = true
	if err := s.UpdateIndex(ctx, repo.ID, &store.IndexUpdate{Packages: map[string][]revision.Revision{"a": {a2}, "b": nil}}); err != nil {
		t.Fatal(err)
	}
	events, err := s.Events(ctx, start, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range events {
		got = append(got, e.Type+" "+e.Revision.Name)
		if e.Revision.Namespace != "default" || e.Revision.ResourceVersion <= start {
			t.Errorf("event %+v", e)
		}
	}
	want := []string{"ADDED cat.a.v1", "ADDED cat.b.v1", "MODIFIED cat.a.v1", "DELETED cat.b.v1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	after, _ := s.Events(ctx, list.ResourceVersion, 0)
	if len(after) != 2 || !after[0].Revision.Latest {
		t.Errorf("events after the list: %+v", after)
	}
	// A full rebuild asks watches to list again.
	if err := s.UpdateIndex(ctx, repo.ID, &store.IndexUpdate{Full: true, Trees: tree, Packages: map[string][]revision.Revision{"a": {a}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Events(ctx, list.ResourceVersion, 0); !errors.Is(err, store.ErrCompacted) {
		t.Errorf("events from before a full rebuild: %v, want ErrCompacted", err)
	}
	now, _ := s.ResourceVersion(ctx)
	if events, err := s.Events(ctx, now, 0); err != nil || len(events) != 0 {
		t.Errorf("events from now: %v, %v", events, err)
	}
	// Deleting a repository deletes its revisions for watchers too.
	if err := s.DeleteRepository(ctx, "default", "cat"); err != nil {
		t.Fatal(err)
	}
	events, err = s.Events(ctx, now, 0)
	if err != nil || len(events) != 1 || events[0].Type != store.Deleted {
		t.Errorf("events of a repository deletion: %+v, %v", events, err)
	}
	if err := s.CompactEvents(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Events(ctx, now, 0); !errors.Is(err, store.ErrCompacted) {
		t.Errorf("events after compaction: %v, want ErrCompacted", err)
	}
}

func testTokensAndSecrets(t *testing.T, s store.Store) {
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

func sshKey(fp string) store.SSHKey {
	return store.SSHKey{Fingerprint: "SHA256:" + fp, AuthorizedKey: "ssh-ed25519 AAAA" + fp, Comment: fp + "@example.com"}
}

func testUsers(t *testing.T, s store.Store) {
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

func testRepositoryStatus(t *testing.T, s store.Store) {
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

func testDeliveries(t *testing.T, s store.Store) {
	ctx := context.Background()
	at := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	d := func(forge, id string) *store.Delivery {
		return &store.Delivery{Forge: forge, DeliveryID: id, Namespace: "default", Repository: "cat", Event: "push",
			Payload: []byte(`{"ref":"refs/heads/main"}`), ReceivedAt: at}
	}
	for _, tc := range []struct {
		d    *store.Delivery
		want bool
	}{
		{d("github", "a"), true},
		{d("github", "a"), false}, // a redelivery
		{d("gitlab", "a"), true},  // ids are per forge
		{&store.Delivery{Forge: "github", DeliveryID: "a", Namespace: "default", Repository: "other", Event: "push", Payload: []byte(`{}`), ReceivedAt: at}, true}, // and per repository
		{d("github", "b"), true},
	} {
		added, err := s.AddDelivery(ctx, tc.d)
		if err != nil || added != tc.want {
			t.Errorf("AddDelivery(%s %s) = %v, %v; want %v", tc.d.Forge, tc.d.DeliveryID, added, err, tc.want)
		}
	}
	batch, err := s.AddDeliveries(ctx, []*store.Delivery{d("github", "c"), d("github", "a"), d("github", "c")})
	if err != nil || fmt.Sprint(batch) != "[true false false]" {
		t.Errorf("AddDeliveries = %v, %v; want [true false false]", batch, err)
	}
	pending, err := s.PendingDeliveries(ctx, 0, 10)
	if err != nil || len(pending) != 5 {
		t.Fatalf("pending: %+v, %v", pending, err)
	}
	first := pending[0]
	if first.Forge != "github" || first.DeliveryID != "a" || string(first.Payload) != `{"ref":"refs/heads/main"}` || !first.ReceivedAt.Equal(at) {
		t.Errorf("first pending delivery: %+v", first)
	}
	if err := s.FinishDelivery(ctx, first.ID, false, "the forge answered 500"); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishDelivery(ctx, pending[1].ID, true, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishDelivery(ctx, 1<<40, true, ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("finishing an unknown delivery: %v", err)
	}
	pending, err = s.PendingDeliveries(ctx, 0, 10)
	if err != nil || len(pending) != 4 || pending[0].DeliveryID != "a" || pending[0].Attempts != 1 || pending[1].Repository != "other" || pending[2].DeliveryID != "b" || pending[3].DeliveryID != "c" {
		t.Errorf("pending after one failure and one success: %+v, %v", pending, err)
	}
	got, err := s.GetDelivery(ctx, "gitlab", "a")
	if err != nil || !got.Done || got.Attempts != 1 {
		t.Errorf("GetDelivery: %+v, %v", got, err)
	}
	if _, err := s.GetDelivery(ctx, "gitlab", "zz"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetDelivery of an unknown delivery: %v", err)
	}
	// Compaction forgets what was processed before a time, nothing else.
	if err := s.CompactDeliveries(ctx, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetDelivery(ctx, "gitlab", "a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a processed delivery survived compaction: %v", err)
	}
	if pending, err := s.PendingDeliveries(ctx, 0, 10); err != nil || len(pending) != 4 {
		t.Errorf("compaction took pending deliveries: %d, %v", len(pending), err)
	}
}

func testPullRequestsAndChecks(t *testing.T, s store.Store) {
	ctx := context.Background()
	repo := mustCreate(t, s, "default", "gh")
	for _, pr := range []store.PullRequest{
		{Number: 7, SourceBranch: "drafts/nginx/a", TargetBranch: "main", State: store.PullRequestOpen, HeadCommit: "h7"},
		{Number: 8, SourceBranch: "feature", TargetBranch: "main", State: store.PullRequestOpen, HeadCommit: "h8"},
		{Number: 8, SourceBranch: "feature", TargetBranch: "main", State: store.PullRequestMerged, HeadCommit: "h8", MergeCommit: "m8"},
	} {
		if err := s.SetPullRequest(ctx, repo.ID, &pr); err != nil {
			t.Fatal(err)
		}
	}
	open, err := s.OpenPullRequests(ctx, repo.ID)
	if err != nil || len(open) != 1 || open[0].Number != 7 || open[0].SourceBranch != "drafts/nginx/a" || open[0].HeadCommit != "h7" {
		t.Fatalf("open pull requests: %+v, %v", open, err)
	}

	c := &store.Check{Namespace: "default", Repository: "gh", Commit: "c1", Name: "pkgserver", Ref: "refs/heads/main",
		Conclusion: "failure", Title: "1 error", Summary: "| x |", Results: []byte(`[{"severity":"error"}]`)}
	if added, err := s.AddCheck(ctx, c); err != nil || !added {
		t.Fatalf("add check: %v %v", added, err)
	}
	if added, err := s.AddCheck(ctx, c); err != nil || added {
		t.Errorf("the same check again: added %v, %v", added, err)
	}
	now := time.Now()
	due, err := s.DueChecks(ctx, now, 2, 10)
	if err != nil || len(due) != 1 || due[0].Title != "1 error" || string(due[0].Results) != `[{"severity":"error"}]` || due[0].Reported {
		t.Fatalf("due checks: %+v, %v", due, err)
	}
	next := now.Add(time.Minute)
	if err := s.UpdateCheckPosting(ctx, due[0].ID, store.CheckPosting{ExternalID: "42", Posted: 50, Attempts: 1, NextAttempt: next, Error: "503"}); err != nil {
		t.Fatal(err)
	}
	if due, err := s.DueChecks(ctx, now, 2, 10); err != nil || len(due) != 0 {
		t.Errorf("a check waiting for its next attempt is due: %+v, %v", due, err)
	}
	if at, err := s.NextCheckAttempt(ctx, now); err != nil || at.UnixMilli() != next.UnixMilli() {
		t.Errorf("next attempt %v, want %v (%v)", at, next, err)
	}
	if err := s.UpdateCheckPosting(ctx, due[0].ID, store.CheckPosting{Reported: true, ExternalID: "42", Posted: 60, Attempts: 2}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Checks(ctx, "default", "gh", "c1")
	if err != nil || len(got) != 1 || !got[0].Reported || got[0].ExternalID != "42" || got[0].Posted != 60 || got[0].Attempts != 2 {
		t.Errorf("checks: %+v, %v", got, err)
	}
	if err := s.UpdateCheckPosting(ctx, 9999, store.CheckPosting{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("posting of an unknown check: %v", err)
	}
	// A backlog of one repository does not hide another's checks.
	for i, repo := range []string{"busy", "busy", "busy", "quiet"} {
		if _, err := s.AddCheck(ctx, &store.Check{Namespace: "default", Repository: repo, Commit: fmt.Sprintf("x%d", i), Name: "pkgserver",
			Conclusion: "success", Results: []byte("[]")}); err != nil {
			t.Fatal(err)
		}
	}
	due, err = s.DueChecks(ctx, time.Now(), 2, 10)
	per := map[string]int{}
	for _, c := range due {
		per[c.Repository]++
	}
	if err != nil || per["busy"] != 2 || per["quiet"] != 1 {
		t.Errorf("due checks per repository: %v, %v", per, err)
	}
	// Posted checks are forgotten after their time; others are kept.
	if err := s.CompactChecks(ctx, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Checks(ctx, "default", "gh", "c1"); err != nil || len(got) != 0 {
		t.Errorf("a posted check after compaction: %+v, %v", got, err)
	}
	if got, err := s.Checks(ctx, "default", "quiet", "x3"); err != nil || len(got) != 1 {
		t.Errorf("a check to post after compaction: %+v, %v", got, err)
	}
	if _, err := s.AddCheck(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRepository(ctx, "default", "gh"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Checks(ctx, "default", "gh", "c1"); err != nil || len(got) != 0 {
		t.Errorf("checks after the repository was deleted: %+v, %v", got, err)
	}
}

// testMeta: what Kptfiles say is kept per tree, answers label selectors,
// goes with its tree; validations change the revisions of their tree.
func testMeta(t *testing.T, s store.Store) {
	ctx := context.Background()
	repo := mustCreate(t, s, "default", "cat")
	gold := revision.Meta{Labels: map[string]string{"tier": "gold", "team": "web"}, Annotations: map[string]string{"owner": "alice"},
		ReadinessGates: []string{"example.com/reviewed"}, Conditions: []revision.Condition{{Type: "example.com/reviewed", Status: "True"}}}
	u := &store.IndexUpdate{
		Refs: []store.RefRecord{{Name: "refs/tags/a/v1", Target: "c1", Contract: true}},
		Trees: []store.Tree{
			{ID: "t1", Files: []store.File{{Path: "Kptfile", BlobID: "b1"}}, Meta: &gold},
			{ID: "t2", Files: []store.File{{Path: "Kptfile", BlobID: "b2"}}, Meta: &revision.Meta{Labels: map[string]string{"tier": "tin"}}},
			{ID: "t3", Files: []store.File{{Path: "Kptfile", BlobID: "b3"}}},
		},
		Blobs: blobs(map[string]string{"b1": "x", "b2": "y", "b3": "z"}),
		Packages: map[string][]revision.Revision{
			"a": {rev("cat", "a", "v1", revision.Published, 1, "t1")},
			"b": {rev("cat", "b", "v1", revision.Published, 1, "t2")},
			"c": {rev("cat", "c", "v1", revision.Published, 1, "t3")},
		},
	}
	if err := s.UpdateIndex(ctx, repo.ID, u); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetRevision(ctx, "default", "cat.a.v1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(gold, got.Meta); diff != "" || got.Validation != nil {
		t.Errorf("meta (-want +got):\n%s validation %v", diff, got.Validation)
	}
	for _, tc := range []struct {
		reqs []store.LabelRequirement
		want string
	}{
		{[]store.LabelRequirement{{Key: "tier", Operator: store.LabelIn, Values: []string{"gold"}}}, "cat.a.v1"},
		{[]store.LabelRequirement{{Key: "tier", Operator: store.LabelIn, Values: []string{"gold", "tin"}}}, "cat.a.v1 cat.b.v1"},
		{[]store.LabelRequirement{{Key: "tier", Operator: store.LabelNotIn, Values: []string{"gold"}}}, "cat.b.v1 cat.c.v1"},
		{[]store.LabelRequirement{{Key: "tier", Operator: store.LabelExists}}, "cat.a.v1 cat.b.v1"},
		{[]store.LabelRequirement{{Key: "tier", Operator: store.LabelNotExists}}, "cat.c.v1"},
		{[]store.LabelRequirement{{Key: "tier", Operator: store.LabelExists}, {Key: "team", Operator: store.LabelIn, Values: []string{"web"}}}, "cat.a.v1"},
	} {
		names := revisionNames(t, s, store.ListOptions{Labels: tc.reqs})
		var list []string
		for n := range names {
			list = append(list, n)
		}
		slices.Sort(list)
		if got := strings.Join(list, " "); got != tc.want {
			t.Errorf("labels %+v: %q, want %q", tc.reqs, got, tc.want)
		}
	}
	if _, err := s.ListRevisions(ctx, store.ListOptions{Labels: []store.LabelRequirement{{Key: "tier", Operator: store.LabelIn}}}); err == nil {
		t.Error("an in requirement without values was accepted")
	}

	// A validation of a tree changes its revisions: a new resource version
	// and an event carrying the outcome.
	before, _ := s.ResourceVersion(ctx)
	if err := s.RecordValidations(ctx, repo.ID, map[string]*store.Validation{
		"t1": {Warnings: 2, At: at, Results: []byte(`[{"message":"w"}]`)}, "not-a-revision": {At: at},
	}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetRevision(ctx, "default", "cat.a.v1")
	if got.Validation == nil || got.Validation.Warnings != 2 || !got.Validation.At.Equal(at) || got.ResourceVersion <= before {
		t.Errorf("after the validation: %+v rv %d (was %d)", got.Validation, got.ResourceVersion, before)
	}
	events, err := s.Events(ctx, before, 10)
	if err != nil || len(events) != 1 || events[0].Type != store.Modified || events[0].Revision.Validation == nil ||
		events[0].Revision.Meta.Labels["tier"] != "gold" {
		t.Errorf("events after the validation: %+v %v", events, err)
	}
	v, err := s.Validation(ctx, repo.ID, "t1")
	if err != nil || string(v.Results) != `[{"message":"w"}]` {
		t.Errorf("validation: %+v %v", v, err)
	}
	if _, err := s.Validation(ctx, repo.ID, "not-a-revision"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a tree no revision has was recorded: %v", err)
	}

	// A validation is of a tree in one repository: another repository
	// using the same tree has none, and keeps the tree when this one stops
	// using it, which drops this one's validation.
	other := mustCreate(t, s, "default", "other")
	if err := s.UpdateIndex(ctx, other.ID, &store.IndexUpdate{Refs: []store.RefRecord{{Name: "refs/tags/a/v1", Target: "c1", Contract: true}},
		Packages: map[string][]revision.Revision{"a": {rev("other", "a", "v1", revision.Published, 1, "t1")}}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetRevision(ctx, "default", "other.a.v1"); got.Validation != nil || got.Meta.Labels["tier"] != "gold" {
		t.Errorf("the same tree in another repository: %+v %+v", got.Validation, got.Meta)
	}
	if err := s.RecordValidations(ctx, other.ID, map[string]*store.Validation{"t1": {At: at}}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateIndex(ctx, other.ID, &store.IndexUpdate{Packages: map[string][]revision.Revision{"a": nil}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Validation(ctx, other.ID, "t1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a validation of a tree the repository no longer has: %v", err)
	}
	if v, err := s.Validation(ctx, repo.ID, "t1"); err != nil || v.Warnings != 2 {
		t.Errorf("the validation of the tree in the repository still using it: %+v, %v", v, err)
	}
	if err := s.UpdateIndex(ctx, repo.ID, &store.IndexUpdate{Trees: []store.Tree{{ID: "t4", Files: []store.File{{Path: "Kptfile", BlobID: "b3"}}}},
		Packages: map[string][]revision.Revision{"a": {rev("cat", "a", "v1", revision.Published, 1, "t4")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Validation(ctx, repo.ID, "t1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the validation of a tree the repository stopped using: %v", err)
	}

	// When the tree goes, its labels and validation go with it.
	if err := s.RecordValidations(ctx, repo.ID, map[string]*store.Validation{"t4": {At: at}}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateIndex(ctx, repo.ID, &store.IndexUpdate{Packages: map[string][]revision.Revision{"a": nil}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Validation(ctx, repo.ID, "t4"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("validation of a collected tree: %v", err)
	}
	if names := revisionNames(t, s, store.ListOptions{Labels: []store.LabelRequirement{{Key: "team", Operator: store.LabelExists}}}); len(names) != 0 {
		t.Errorf("labels of a collected tree still match: %v", names)
	}
	if _, err := s.Validation(ctx, repo.ID, "t1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("validation of a collected tree: %v", err)
	}
	// A tree indexed again after that starts without either.
	if err := s.UpdateIndex(ctx, repo.ID, &store.IndexUpdate{Trees: []store.Tree{{ID: "t1", Files: []store.File{{Path: "Kptfile", BlobID: "b1"}}}},
		Blobs: blobs(map[string]string{"b1": "x"}), Packages: map[string][]revision.Revision{"a": {rev("cat", "a", "v1", revision.Published, 1, "t1")}}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetRevision(ctx, "default", "cat.a.v1"); !got.Meta.Empty() || got.Validation != nil {
		t.Errorf("re-indexed tree: %+v %+v", got.Meta, got.Validation)
	}
	if missing, _ := s.TreesWithoutMeta(ctx, "", 10); len(missing) != 0 {
		t.Errorf("trees without meta: %v", missing)
	}
}
