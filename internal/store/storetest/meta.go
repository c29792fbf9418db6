package storetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

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
	testValidations(t, s, repo)
	testMetaOfCollectedTrees(t, s, repo)
}

// testValidations: a validation changes the revisions of its tree in its
// repository, and goes when the repository stops using the tree.
func testValidations(t *testing.T, s store.Store, repo *store.Repository) {
	ctx := context.Background()
	// A validation of a tree changes its revisions: a new resource version
	// and an event carrying the outcome.
	before, _ := s.ResourceVersion(ctx)
	if err := s.RecordValidations(ctx, repo.ID, map[string]*store.Validation{
		"t1": {Warnings: 2, At: at, Results: []byte(`[{"message":"w"}]`)}, "not-a-revision": {At: at},
	}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.GetRevision(ctx, "default", "cat.a.v1")
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
}

// testMetaOfCollectedTrees: labels and validations go with their tree.
func testMetaOfCollectedTrees(t *testing.T, s store.Store, repo *store.Repository) {
	ctx := context.Background()
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
