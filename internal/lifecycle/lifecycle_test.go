package lifecycle

import (
	"context"
	"strings"
	"testing"

	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/revision"
)

// TestPublishOnMovedBranch: the branch moves (a push) while a proposal is
// approved: the publication is made again on the new head, which stays in
// the branch's history, and the proposal is published, not lost.
func TestPublishOnMovedBranch(t *testing.T) {
	ctx := context.Background()
	w, st, bare := setupFiles(t, nil)
	by := Author{Name: "ada"}
	r := proposeNginx(t, w)
	var pushed string
	w.beforePublish = func(try int) {
		if try != 1 {
			return
		}
		// Someone else's commit lands on main.
		tree := run(t, bare, "rev-parse", "main^{tree}")
		pushed = run(t, bare, "-c", "user.name=Bo", "-c", "user.email=bo@example.com", "commit-tree", tree, "-p", "main", "-m", "elsewhere")
		run(t, bare, "update-ref", "refs/heads/main", pushed)
	}
	pub, _, err := w.Approval(ctx, "default", r.Name, r.ResourceVersion, revision.Published, by)
	if err != nil {
		t.Fatal(err)
	}
	if pub.Lifecycle != revision.Published || pub.Revision.Revision != "v1" {
		t.Fatalf("published: %+v", pub.Revision)
	}
	if parent := run(t, bare, "rev-parse", "main^1"); parent != pushed {
		t.Errorf("the publication's first parent is %s, not the commit pushed meanwhile %s", parent, pushed)
	}
	if run(t, bare, "rev-parse", "nginx/v1") != run(t, bare, "rev-parse", "main") {
		t.Errorf("the tag is not on the branch head")
	}
	if got := run(t, bare, "for-each-ref", "--format=%(refname)", "refs/heads/"); got != "refs/heads/main" {
		t.Errorf("branches after publishing: %s", got)
	}
	if _, err := st.GetRevision(ctx, "default", "blueprints.nginx.first"); err != nil {
		t.Errorf("published revision not indexed: %v", err)
	}
}

// TestRemoteWrites: a repository fetched over HTTP (git http-backend, basic
// authentication) is written by atomic pushes from its mirror: the draft,
// the proposal and the publication land in the remote; a remote branch that
// moves during the approval is fetched and the publication made again.
func TestRemoteWrites(t *testing.T) {
	ctx := context.Background()
	w, st, bare := remoteSetup(t, "")
	by := Author{Name: "ada"}
	r, _, err := w.Create(ctx, "default", Create{Repository: "blueprints", Package: "nginx", Workspace: "first", Init: &Init{}}, by)
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, bare, "for-each-ref", "--format=%(refname)", "refs/heads/drafts/"); got != "refs/heads/drafts/nginx/first" {
		t.Fatalf("remote branches after create: %q", got)
	}
	if r, _, err = w.Update(ctx, "default", r.Name, r.ResourceVersion, revision.Proposed, nil, by); err != nil {
		t.Fatal(err)
	}
	var pushed string
	w.beforePublish = func(try int) {
		if try == 1 {
			tree := run(t, bare, "rev-parse", "main^{tree}")
			pushed = run(t, bare, "-c", "user.name=Bo", "-c", "user.email=bo@example.com", "commit-tree", tree, "-p", "main", "-m", "elsewhere")
			run(t, bare, "update-ref", "refs/heads/main", pushed)
		}
	}
	pub, _, err := w.Approval(ctx, "default", r.Name, r.ResourceVersion, revision.Published, by)
	if err != nil {
		t.Fatal(err)
	}
	if pub.Revision.Revision != "v1" || pub.Lifecycle != revision.Published {
		t.Errorf("published: %+v", pub.Revision)
	}
	if run(t, bare, "rev-parse", "nginx/v1") != run(t, bare, "rev-parse", "main") || run(t, bare, "rev-parse", "main^1") != pushed {
		t.Errorf("remote after the approval:\n%s", run(t, bare, "log", "--oneline", "--graph", "--all"))
	}
	if got := run(t, bare, "for-each-ref", "--format=%(refname)", "refs/heads/"); got != "refs/heads/main" {
		t.Errorf("remote branches after publishing: %q", got)
	}
	// Nothing of the pushes' own refs is left in the mirror.
	repo, err := st.GetRepository(ctx, "default", "blueprints")
	if err != nil {
		t.Fatal(err)
	}
	mirror, _, err := w.Git(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	if refs, _ := mirror.RefsUnder(ctx, "refs/pkgserver-push/"); len(refs) != 0 {
		t.Errorf("push refs left: %v", refs)
	}
}

// TestExecutableBits: an executable file stays executable through a clone
// and an update of a draft's resources (which carry text, not modes).
func TestExecutableBits(t *testing.T) {
	ctx := context.Background()
	files := gittest.Package("nginx", "1")
	files["nginx/run.sh"] = "#!/bin/sh\necho hi\n"
	w, _, bare := setupFilesWith(t, files, func(work *gittest.Repo) {
		work.Git("update-index", "--chmod=+x", "nginx/run.sh")
		work.Commit("executable")
		work.Tag("nginx/v1", work.Rev("HEAD"), "")
	})
	by := Author{Name: "ada"}
	r, _, err := w.Create(ctx, "default", Create{Repository: "blueprints", Package: "nginx-prod", Workspace: "a", CloneFrom: "blueprints.nginx.v1"}, by)
	if err != nil {
		t.Fatal(err)
	}
	if mode := run(t, bare, "ls-tree", "drafts/nginx-prod/a", "nginx-prod/run.sh"); !strings.HasPrefix(mode, "100755") {
		t.Errorf("clone: %s", mode)
	}
	files2, err := w.Store.Resources(ctx, "default", r.Name)
	if err != nil {
		t.Fatal(err)
	}
	files2["extra.yaml"] = []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n")
	if _, _, err := w.PutResources(ctx, "default", r.Name, r.ResourceVersion, files2, by); err != nil {
		t.Fatal(err)
	}
	if mode := run(t, bare, "ls-tree", "drafts/nginx-prod/a", "nginx-prod/run.sh"); !strings.HasPrefix(mode, "100755") {
		t.Errorf("after an update of the resources: %s", mode)
	}
}
