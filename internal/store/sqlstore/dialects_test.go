package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
	"github.com/pkgserver/pkgserver/internal/store/storetest"
)

// TestDialectsAgree runs one script of writes and reads, large enough for
// the bulk statements' full batches and touching the queries the store
// suite does not (the backfill of trees' meta, trees' files, counts), on
// SQLite and on PostgreSQL, and compares what they answer.
func TestDialectsAgree(t *testing.T) {
	pg.Require(t)
	ctx := context.Background()
	lite, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	want := dialectScript(t, lite)
	pgs := openPostgres(t, pg.Database(t))
	defer pgs.Close()
	got := dialectScript(t, pgs)
	for i := range min(len(want), len(got)) {
		if want[i] != got[i] {
			t.Logf("answers differ: %.80s...", want[i])
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("PostgreSQL answered otherwise than SQLite (-sqlite +postgres):\n%s", diff)
	}
}

// dialectScript writes and reads a repository of 150 packages and returns
// what the reads answered, one line each.
func dialectScript(t *testing.T, s *Store) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	record := func(what string, v any, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, what+": "+string(b))
	}
	repo := storetest.NewRepository("default", "cat")
	if err := s.CreateRepository(ctx, repo); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	if err := s.UpdateIndex(ctx, repo.ID, scriptUpdate(0, 150, "a", at, true)); err != nil {
		t.Fatal(err)
	}
	full, _ := s.ResourceVersion(ctx)
	// Packages 140-149 go, 150-154 come, 0-119 change trees.
	u := scriptUpdate(0, 155, "b", at.Add(time.Hour), false)
	for i := 120; i < 140; i++ {
		delete(u.Packages, scriptPackage(i))
	}
	for i := 140; i < 150; i++ {
		u.Packages[scriptPackage(i)] = nil
		u.DeletedRefs = append(u.DeletedRefs, "refs/heads/drafts/"+scriptPackage(i)+"/v1")
		u.DeletedBranch = append(u.DeletedBranch, scriptPackage(i))
	}
	if err := s.UpdateIndex(ctx, repo.ID, u); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordValidations(ctx, repo.ID, map[string]*store.Validation{
		scriptTree(3, "b"): {Errors: 1, Warnings: 2, At: at, Results: []byte(`[{"message":"bad"}]`)},
		scriptTree(4, "b"): {Warnings: 1, At: at},
	}); err != nil {
		t.Fatal(err)
	}
	// Trees as an older version indexed them, without their meta.
	if _, err := s.wdb.ExecContext(ctx, s.q(`UPDATE trees SET meta = NULL WHERE id IN (?, ?, ?)`), scriptTree(5, "b"), scriptTree(6, "b"), scriptTree(130, "a")); err != nil {
		t.Fatal(err)
	}
	without, err := s.TreesWithoutMeta(ctx, "", 2)
	record("trees without meta", without, err)
	more, err := s.TreesWithoutMeta(ctx, without[len(without)-1].Tree, 10)
	record("more trees without meta", more, err)
	record("set tree meta", nil, s.SetTreeMeta(ctx, map[string]revision.Meta{
		scriptTree(5, "b"): {Labels: map[string]string{"tier": "gold"}}, scriptTree(6, "b"): {}, scriptTree(130, "a"): {Annotations: map[string]string{"x": "y"}},
	}))

	for _, opts := range []store.ListOptions{
		{Namespace: "default", Limit: 40},
		{Labels: []store.LabelRequirement{{Key: "tier", Operator: store.LabelIn, Values: []string{"gold", "silver"}}}},
		{Labels: []store.LabelRequirement{{Key: "tier", Operator: store.LabelNotExists}}, Limit: 5},
		{Package: scriptPackage(7)},
		{Lifecycle: string(revision.Draft), Latest: new(false), Limit: 3},
	} {
		for page := 0; ; page++ {
			list, err := s.ListRevisions(ctx, opts)
			record(fmt.Sprintf("list %s %s %v page %d", opts.Package, opts.Lifecycle, opts.Labels, page), list, err)
			if list.Continue == "" {
				break
			}
			opts.Continue = list.Continue
		}
	}
	events, err := s.Events(ctx, full, 0)
	record("events after the full index", events, err)
	repoEvents, err := s.RepositoryEvents(ctx, full, 0)
	for i := range repoEvents {
		repoEvents[i].Repository.UID, repoEvents[i].Repository.CreationTimestamp = "", repoEvents[i].Repository.CreationTimestamp.Rfc3339Copy()
		if p := repoEvents[i].Previous; p != nil {
			p.UID = ""
		}
	}
	record("repository events", len(repoEvents), err)
	refs, err := s.Refs(ctx, repo.ID)
	record("refs", refs, err)
	refs, err = s.Refs(ctx, repo.ID, "refs/heads/drafts/"+scriptPackage(9)+"/v1", "refs/heads/drafts/"+scriptPackage(145)+"/v1", "refs/tags/none")
	record("refs named", refs, err)
	obs, err := s.Observations(ctx, repo.ID, []string{scriptPackage(1), scriptPackage(152)})
	record("observations", obs, err)
	commit, obs, err := s.BranchPackages(ctx, repo.ID)
	record("branch "+commit, obs, err)
	files, err := s.TreeFiles(ctx, scriptTree(8, "b"))
	record("tree files", files, err)
	content, err := s.TreeResources(ctx, scriptTree(8, "b"))
	record("tree resources", content, err)
	content, err = s.Resources(ctx, "default", "cat."+scriptPackage(9)+".v1")
	record("resources", content, err)
	n, err := s.CountRevisions(ctx)
	record("revisions", n, err)
	missing, err := s.MissingTrees(ctx, []string{scriptTree(1, "a"), scriptTree(1, "b"), scriptTree(130, "a")})
	record("missing trees", missing, err)
	missing, err = s.MissingBlobs(ctx, []string{"b-shared", "b-" + scriptTree(1, "a"), "b-" + scriptTree(1, "b")})
	record("missing blobs", missing, err)
	v, err := s.Validation(ctx, repo.ID, scriptTree(3, "b"))
	record("validation", v, err)
	st, err := s.GetRepository(ctx, "default", "cat")
	record("status", st.Object.Status, err)
	var blobs, trees, labels int
	err = s.db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM blobs), (SELECT COUNT(*) FROM trees), (SELECT COUNT(*) FROM tree_labels)`).Scan(&blobs, &trees, &labels)
	record("rows", []int{blobs, trees, labels}, err)
	return out
}

func scriptPackage(i int) string { return fmt.Sprintf("pkg-%03d", i) }

func scriptTree(i int, gen string) string { return fmt.Sprintf("t-%s-%03d", gen, i) }

// scriptUpdate indexes packages [from, to) with a draft each on trees of
// generation gen: one blob of their own, one all share; every fifth
// labelled.
func scriptUpdate(from, to int, gen string, at time.Time, full bool) *store.IndexUpdate {
	u := &store.IndexUpdate{Full: full, BranchCommit: "head-" + gen, Packages: map[string][]revision.Revision{},
		Problems: map[string][]revision.Problem{}, RefsHash: "h-" + gen, SyncedAt: at}
	blobs := map[string][]byte{"b-shared": []byte("shared\n")}
	for i := from; i < to; i++ {
		pkg, tree := scriptPackage(i), scriptTree(i, gen)
		ref := "refs/heads/drafts/" + pkg + "/v1"
		t := store.Tree{ID: tree, Files: []store.File{{Path: "Kptfile", Mode: 0o100644, BlobID: "b-" + tree}, {Path: "shared.yaml", Mode: 0o100644, BlobID: "b-shared"}}}
		if i%5 == 0 {
			t.Meta = &revision.Meta{Labels: map[string]string{"tier": []string{"gold", "silver", "bronze"}[i%3]}}
		}
		u.Trees = append(u.Trees, t)
		blobs["b-"+tree] = []byte("kind: Kptfile # " + tree + "\n")
		o := revision.Observation{Source: revision.Source{Kind: revision.KindDraft, Ref: ref, Package: pkg, Workspace: "v1"}, Commit: "c-" + tree, Tree: tree, By: "Jane", At: at}
		u.Refs = append(u.Refs, store.RefRecord{Name: ref, Target: "c-" + tree, Contract: true, Observation: o})
		u.Branch = append(u.Branch, revision.Observation{Source: revision.Source{Kind: revision.KindBranch, Package: pkg}, Commit: "head-" + gen, Tree: tree, By: "Jane", At: at})
		u.Packages[pkg] = []revision.Revision{{Name: "cat." + pkg + ".v1", Package: pkg, Workspace: "v1", Lifecycle: revision.Draft, Ref: ref,
			Commit: "c-" + tree, Tree: tree, CreatedAt: at}}
		if i%7 == 0 {
			u.Problems[pkg] = []revision.Problem{{Ref: "refs/tags/" + pkg + "/bad", Package: pkg, Message: "not a revision " + gen}}
		}
	}
	u.Blobs = func(put store.BlobPut) error {
		for _, id := range slices.Sorted(maps.Keys(blobs)) {
			if err := put(id, blobs[id]); err != nil {
				return err
			}
		}
		return nil
	}
	return u
}
