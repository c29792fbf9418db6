package lifecycle

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/revision"
)

// A file where a parent directory of the new package would go.
func TestInitUnderAFile(t *testing.T) {
	ctx := context.Background()
	w, _, bare := setupFiles(t, map[string]string{"team": "keep me\n"})
	by := Author{Name: "ada"}
	_, _, err := w.Create(ctx, "default", Create{Repository: "blueprints", Package: "team/nginx", Workspace: "ws", Init: &Init{}}, by)
	var inv *Invalid
	if !errors.As(err, &inv) || !strings.Contains(err.Error(), "team is a file") {
		t.Errorf("init team/nginx over the file team: %v, want a refusal", err)
	}
	if got := run(t, bare, "for-each-ref", "--format=%(refname)"); got != "refs/heads/main" {
		t.Errorf("refs after the refusal: %s", got)
	}
}

// Another writer's push lands on the remote while ours is being received
// (after the advertisement, before the ref transaction): a conflict that
// publish should retry, not a refusal.
func TestRemoteMovedDuringPush(t *testing.T) {
	ctx := context.Background()
	w, _, bare := remoteSetup(t, "")
	by := Author{Name: "ada"}
	r := proposeNginx(t, w)
	hook := `#!/bin/sh
[ -f moved ] && exit 0
touch moved
unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
t=$(git rev-parse 'main^{tree}')
c=$(git -c user.name=Bo -c user.email=bo@x commit-tree $t -p main -m elsewhere)
git update-ref refs/heads/main $c
exit 0
`
	if err := os.WriteFile(filepath.Join(bare, "hooks", "pre-receive"), []byte(hook), 0o755); err != nil {
		t.Fatal(err)
	}
	pub, _, err := w.Approval(ctx, "default", r.Name, r.ResourceVersion, revision.Published, by)
	if err != nil {
		var inv *Invalid
		t.Fatalf("approval: %v (Invalid=%v, Conflict=%v)\nremote refs:\n%s", err, errors.As(err, &inv), errors.Is(err, ErrConflict), run(t, bare, "for-each-ref"))
	}
	if pub.Revision.Revision != "v1" || !strings.Contains(run(t, bare, "log", "--format=%s", "main"), "elsewhere") {
		t.Errorf("published %+v", pub.Revision)
	}
}

// A symlink in a published package stays a symlink through an edit draft's
// resource update and a clone.
func TestSymlinkKept(t *testing.T) {
	ctx := context.Background()
	files := gittest.Package("a", "1")
	w, st, bare := setupFilesWith(t, files, func(r *gittest.Repo) {
		r.Symlink("a/link", "Kptfile")
		r.Commit("link")
		r.Tag("a/v1", "HEAD", "")
	})
	by := Author{Name: "ada"}
	if run(t, bare, "ls-tree", "a/v1", "a/link") == "" {
		t.Fatal("no link")
	}
	r, _, err := w.Create(ctx, "default", Create{Repository: "blueprints", Package: "a", Workspace: "ws", CopyFrom: "blueprints.a.v1"}, by)
	if err != nil {
		t.Fatal(err)
	}
	res, err := st.Resources(ctx, "default", r.Name)
	if err != nil {
		t.Fatal(err)
	}
	res["README.md"] = []byte("changed\n")
	if _, _, err := w.PutResources(ctx, "default", r.Name, r.ResourceVersion, res, by); err != nil {
		t.Fatal(err)
	}
	if got := run(t, bare, "ls-tree", "drafts/a/ws", "a/link"); !strings.HasPrefix(got, "120000") {
		t.Errorf("after PutResources: %s", got)
	}
	if _, _, err := w.Create(ctx, "default", Create{Repository: "blueprints", Package: "b", Workspace: "ws", CloneFrom: "blueprints.a.v1"}, by); err != nil {
		t.Fatal(err)
	}
	if got := run(t, bare, "ls-tree", "drafts/b/ws", "b/link"); !strings.HasPrefix(got, "120000") {
		t.Errorf("after clone: %s", got)
	}
}

// A file elsewhere in the repository whose name pkgserver would not write
// itself (git accepts it) blocks every write that rebuilds the root tree.
func TestOddNameElsewhere(t *testing.T) {
	ctx := context.Background()
	w, _, _ := setupFiles(t, map[string]string{"docs/win\\path.txt": "x\n", "Icon\r": ""})
	_, _, err := w.Create(ctx, "default", Create{Repository: "blueprints", Package: "nginx", Workspace: "ws", Init: &Init{}}, Author{Name: "ada"})
	if err != nil {
		var inv *Invalid
		t.Errorf("create: %v (Invalid=%v)", err, errors.As(err, &inv))
	}
}
