package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// TestIndex tests the index of package revisions: the writer's updates
// (store.IndexWriter), what clients read of them (store.Index), the meta
// of trees and their validations (store.Validations). Its fixtures need the
// repositories' and the events' roles too.
func TestIndex(t *testing.T, newStore func(t *testing.T) store.Store) {
	run(t, newStore, []test[store.Store]{
		{"IndexUpdates", testIndexUpdates},
		{"FailedUpdateChangesNothing", testFailedUpdate},
		{"ListAndPaginate", testList},
		{"ListResources", testListResources},
		{"FullReplaceAndGarbage", testFullReplace},
		{"DeleteRepositoryRemovesIndex", testDeleteRepository},
		{"MetaLabelsAndValidations", testMeta},
	})
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
	testIndexUpdateOfOnePackage(t, s, repo, v1, draft)
	testIndexPackageRemoval(t, s, repo)
}

// testIndexUpdateOfOnePackage: an update of one package changes the
// revisions that changed, collects what they stopped using.
func testIndexUpdateOfOnePackage(t *testing.T, s store.Store, repo *store.Repository, v1, draft revision.Revision) {
	ctx := context.Background()
	// A second update touching only nginx: the draft changes, v1 does not,
	// redis is left alone.
	before := revisionNames(t, s, store.ListOptions{Namespace: "default"})
	if r, err := s.GetRevision(ctx, "default", "cat.nginx.ws"); err != nil || r.Tree != "t2" {
		t.Fatalf("draft = %+v, %v", r, err)
	}
	draft2 := draft
	draft2.Tree, draft2.Commit = "t4", "c-t4"
	err := s.UpdateIndex(ctx, repo.ID, &store.IndexUpdate{
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
	refs, _ := s.Refs(ctx, repo.ID)
	if len(refs) != 2 || refs[0].Name != "refs/heads/drafts/nginx/ws" {
		t.Errorf("refs after update: %v", refs)
	}
}

// testIndexPackageRemoval: a package without revisions goes.
func testIndexPackageRemoval(t *testing.T, s store.Store, repo *store.Repository) {
	ctx := context.Background()
	// Removing every revision of a package removes the package; problems
	// are replaced per package.
	if err := s.UpdateIndex(ctx, repo.ID, &store.IndexUpdate{Packages: map[string][]revision.Revision{"redis": nil},
		Problems: map[string][]revision.Problem{"x": nil}}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.GetRepository(ctx, "default", "cat")
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
