package lifecycle

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
	"github.com/pkgserver/pkgserver/internal/store/sqlstore"
)

// repoState is what a dry run must leave as it was: the refs, every file
// of the object store (loose objects and packs), git's count of objects,
// and the index's resource version and revisions.
type repoState struct {
	Refs, Count string
	Objects     []string
	RV          int64
	Revisions   []store.Revision
}

func stateOf(t *testing.T, bare string, st *sqlstore.Store) repoState {
	t.Helper()
	var s repoState
	s.Refs = run(t, bare, "for-each-ref", "--format=%(refname) %(objectname)")
	s.Count = run(t, bare, "count-objects", "-v")
	objects := filepath.Join(bare, "objects")
	err := filepath.WalkDir(objects, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			s.Objects = append(s.Objects, strings.TrimPrefix(p, objects))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if s.RV, err = st.ResourceVersion(ctx); err != nil {
		t.Fatal(err)
	}
	list, err := st.ListRevisions(ctx, store.ListOptions{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	s.Revisions = list.Items
	return s
}

// TestDryRun: each write, made first as a dry run and then for real,
// answers the same revision both times (the time is fixed, so the commits
// are the same), and the dry run leaves git and the index as they were; a
// dry run refuses what the write refuses.
func TestDryRun(t *testing.T) {
	ctx := context.Background()
	w, st, bare := setupFiles(t, nil)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	w.Now = func() time.Time { return at }
	dry := w.DryRun()
	by := Author{Name: "ada", Email: "ada@example.com"}

	// check makes a write as a dry run, then for real, and compares.
	check := func(name string, write func(w *Writer) (*store.Revision, error)) *store.Revision {
		t.Helper()
		before := stateOf(t, bare, st)
		want, werr := write(dry)
		if diff := cmp.Diff(before, stateOf(t, bare, st)); diff != "" {
			t.Errorf("%s: the dry run changed git or the index (-before +after):\n%s", name, diff)
		}
		if want != nil {
			// A dry run answers the resource version the object has: none
			// for a new one.
			var rv int64
			if prev, err := st.GetRevision(ctx, "default", want.Name); err == nil {
				rv = prev.ResourceVersion
			}
			if want.ResourceVersion != rv {
				t.Errorf("%s: the dry run answered resource version %d, not %d", name, want.ResourceVersion, rv)
			}
		}
		got, err := write(w)
		if (werr == nil) != (err == nil) {
			t.Fatalf("%s: dry run: %v; write: %v", name, werr, err)
		}
		if err != nil {
			if werr.Error() != err.Error() {
				t.Errorf("%s: the dry run refused %q, the write %q", name, werr, err)
			}
			return nil
		}
		if got == nil || want == nil {
			return got
		}
		d, g := *want, *got
		d.ResourceVersion, g.ResourceVersion = 0, 0
		if diff := cmp.Diff(d, g); diff != "" {
			t.Errorf("%s: the dry run answered otherwise than the write (-dry +write):\n%s", name, diff)
		}
		return got
	}

	r := check("create", func(w *Writer) (*store.Revision, error) {
		r, _, err := w.Create(ctx, "default", Create{Repository: "blueprints", Package: "nginx", Workspace: "first",
			Init: &Init{Description: "a web server"}, Meta: &MetaEdit{Labels: map[string]string{"team": "web"}}}, by)
		return r, err
	})
	if r == nil || r.Lifecycle != revision.Draft {
		t.Fatalf("created: %+v", r)
	}
	// The dry run of a create that exists now is refused as the write is.
	check("create again", func(w *Writer) (*store.Revision, error) {
		r, _, err := w.Create(ctx, "default", Create{Repository: "blueprints", Package: "nginx", Workspace: "first", Init: &Init{}}, by)
		return r, err
	})
	files, err := st.Resources(ctx, "default", r.Name)
	if err != nil {
		t.Fatal(err)
	}
	files["cm.yaml"] = []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: b\n")
	rv := r.ResourceVersion
	r = check("put resources", func(w *Writer) (*store.Revision, error) {
		r, _, err := w.PutResources(ctx, "default", r.Name, rv, files, by)
		return r, err
	})
	// A stale resource version is a conflict, dry or not.
	check("stale put", func(w *Writer) (*store.Revision, error) {
		r, _, err := w.PutResources(ctx, "default", r.Name, rv, files, by)
		return r, err
	})
	bad := map[string][]byte{"Kptfile": files["Kptfile"], "broken.yaml": []byte("kind: [")}
	check("invalid resources", func(w *Writer) (*store.Revision, error) {
		r, _, err := w.PutResources(ctx, "default", r.Name, 0, bad, by)
		var inv *Invalid
		if err != nil && (!errors.As(err, &inv) || len(inv.Results) == 0) {
			t.Errorf("invalid resources: %v, not Invalid with findings", err)
		}
		return r, err
	})
	r = check("edit and propose", func(w *Writer) (*store.Revision, error) {
		r, _, err := w.Update(ctx, "default", r.Name, r.ResourceVersion, revision.Proposed,
			&MetaEdit{Labels: map[string]string{"team": "edge"}, Annotations: map[string]string{}, ReadinessGates: []string{}}, by)
		return r, err
	})
	if r == nil || r.Lifecycle != revision.Proposed || r.Meta.Labels["team"] != "edge" {
		t.Fatalf("proposed: %+v", r)
	}
	r = check("reject", func(w *Writer) (*store.Revision, error) {
		r, _, err := w.Approval(ctx, "default", r.Name, r.ResourceVersion, revision.Draft, by)
		return r, err
	})
	r = check("propose", func(w *Writer) (*store.Revision, error) {
		r, _, err := w.Update(ctx, "default", r.Name, r.ResourceVersion, revision.Proposed, nil, by)
		return r, err
	})
	r = check("publish", func(w *Writer) (*store.Revision, error) {
		r, _, err := w.Approval(ctx, "default", r.Name, r.ResourceVersion, revision.Published, by)
		return r, err
	})
	if r == nil || r.Revision.Revision != "v1" || !r.Latest || r.PublishedBy != "ada <ada@example.com>" {
		t.Fatalf("published: %+v", r)
	}
	check("publish again", func(w *Writer) (*store.Revision, error) {
		r, _, err := w.Approval(ctx, "default", r.Name, 0, revision.Published, by)
		return r, err
	})
	r = check("propose the deletion", func(w *Writer) (*store.Revision, error) {
		r, _, err := w.Approval(ctx, "default", r.Name, r.ResourceVersion, revision.DeletionProposed, by)
		return r, err
	})
	r = check("reject the deletion", func(w *Writer) (*store.Revision, error) {
		r, _, err := w.Approval(ctx, "default", r.Name, r.ResourceVersion, revision.Published, by)
		return r, err
	})
	r = check("propose the deletion again", func(w *Writer) (*store.Revision, error) {
		r, _, err := w.Approval(ctx, "default", r.Name, r.ResourceVersion, revision.DeletionProposed, by)
		return r, err
	})
	check("delete", func(w *Writer) (*store.Revision, error) {
		return nil, w.Delete(ctx, "default", r.Name, r.ResourceVersion, by)
	})
	if _, err := st.GetRevision(ctx, "default", r.Name); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after the delete: %v", err)
	}
	check("delete what is gone", func(w *Writer) (*store.Revision, error) {
		return nil, w.Delete(ctx, "default", r.Name, 0, by)
	})
}

// TestDryRunRefCollision: a dry run finds the collision of a new branch
// with an existing one that the ref transaction would refuse.
func TestDryRunRefCollision(t *testing.T) {
	ctx := context.Background()
	w, st, bare := setupFilesWith(t, nil, func(work *gittest.Repo) {
		work.Git("branch", "drafts/nginx/first/x")
	})
	before := stateOf(t, bare, st)
	_, _, derr := w.DryRun().Create(ctx, "default", Create{Repository: "blueprints", Package: "nginx", Workspace: "first", Init: &Init{}}, Author{})
	if diff := cmp.Diff(before, stateOf(t, bare, st)); diff != "" {
		t.Errorf("the dry run changed git or the index:\n%s", diff)
	}
	_, _, err := w.Create(ctx, "default", Create{Repository: "blueprints", Package: "nginx", Workspace: "first", Init: &Init{}}, Author{})
	var inv *Invalid
	if !errors.As(err, &inv) || !errors.As(derr, &inv) {
		t.Fatalf("dry run: %v; write: %v; want both refused as Invalid", derr, err)
	}
	if !slices.ContainsFunc([]string{derr.Error()}, func(s string) bool { return strings.Contains(s, "drafts/nginx/first") }) {
		t.Errorf("dry run: %v", derr)
	}
}

// TestDryRunRemote: a dry run of a write to a repository fetched over HTTP
// pushes nothing and leaves the mirror as it was; the write itself then
// lands in the remote.
func TestDryRunRemote(t *testing.T) {
	ctx := context.Background()
	w, st, bare := remoteSetup(t, "")
	repo, err := st.GetRepository(ctx, "default", "blueprints")
	if err != nil {
		t.Fatal(err)
	}
	mirror, _, err := w.Git(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	before, mirrorBefore := stateOf(t, bare, st), stateOf(t, mirror.GitDir(), st)
	req := Create{Repository: "blueprints", Package: "nginx", Workspace: "first", Init: &Init{}}
	dry, _, err := w.DryRun().Create(ctx, "default", req, Author{Name: "ada"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, stateOf(t, bare, st)); diff != "" {
		t.Errorf("the dry run changed the remote or the index:\n%s", diff)
	}
	if diff := cmp.Diff(mirrorBefore, stateOf(t, mirror.GitDir(), st)); diff != "" {
		t.Errorf("the dry run changed the mirror:\n%s", diff)
	}
	if dry.Name != "blueprints.nginx.first" || dry.Lifecycle != revision.Draft || dry.ResourceVersion != 0 {
		t.Errorf("dry run: %+v", dry)
	}
	if _, _, err := w.Create(ctx, "default", req, Author{Name: "ada"}); err != nil {
		t.Fatal(err)
	}
	if got := run(t, bare, "for-each-ref", "--format=%(refname)", "refs/heads/drafts/"); got != "refs/heads/drafts/nginx/first" {
		t.Errorf("remote branches after the write: %q", got)
	}
}
