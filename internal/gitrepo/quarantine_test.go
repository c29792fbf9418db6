package gitrepo

import (
	"bufio"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
)

// preReceiveHook writes the quarantine's variables and the pushed commit to
// dir/env, then holds the push, and the quarantine, until dir/done exists.
// It refuses the push, so that nothing of it is ever accepted.
const preReceiveHook = `#!/bin/sh
dir=@DIR@
read old new ref
{
	printf 'GIT_OBJECT_DIRECTORY=%s\n' "$GIT_OBJECT_DIRECTORY"
	printf 'GIT_ALTERNATE_OBJECT_DIRECTORIES=%s\n' "$GIT_ALTERNATE_OBJECT_DIRECTORIES"
	printf 'GIT_QUARANTINE_PATH=%s\n' "$GIT_QUARANTINE_PATH"
	printf 'NEW=%s\n' "$new"
} > "$dir/env.tmp"
mv "$dir/env.tmp" "$dir/env"
i=0
while [ ! -e "$dir/done" ] && [ $i -lt 600 ]; do
	sleep 0.1
	i=$((i+1))
done
echo "refused by the test" >&2
exit 1
`

// pushIntoQuarantine pushes a new commit to a bare repository whose
// pre-receive hook holds it in quarantine, and returns the repository's
// path, the quarantine the hook saw, and the commit. The push is refused
// when the test ends.
func pushIntoQuarantine(t *testing.T) (string, Quarantine, string) {
	t.Helper()
	bare := filepath.Join(t.TempDir(), "srv.git")
	if out, err := exec.Command("git", "init", "-q", "--bare", bare).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v\n%s", err, out)
	}
	hookDir := t.TempDir()
	hook := strings.Replace(preReceiveHook, "@DIR@", shellQuote(hookDir), 1)
	if err := os.WriteFile(filepath.Join(bare, "hooks", "pre-receive"), []byte(hook), 0o755); err != nil {
		t.Fatal(err)
	}

	src := gittest.New(t)
	src.Write(gittest.Package("pkg", "v1"))
	commit := src.Commit("pushed")

	push := exec.Command("git", "push", "-q", bare, "main")
	push.Dir = src.Dir
	push.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + src.Dir, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"}
	var out strings.Builder
	push.Stdout, push.Stderr = &out, &out
	if err := push.Start(); err != nil {
		t.Fatal(err)
	}
	pushed := make(chan error, 1)
	go func() { pushed <- push.Wait() }()
	t.Cleanup(func() {
		if err := os.WriteFile(filepath.Join(hookDir, "done"), nil, 0o600); err != nil {
			t.Error(err)
		}
		if err := <-pushed; err == nil {
			t.Errorf("the push was accepted:\n%s", out.String())
		}
	})

	vars := map[string]string{}
	for deadline := time.Now().Add(30 * time.Second); ; {
		f, err := os.Open(filepath.Join(hookDir, "env"))
		if err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				k, v, _ := strings.Cut(sc.Text(), "=")
				vars[k] = v
			}
			f.Close()
			break
		}
		select {
		case err := <-pushed:
			t.Fatalf("the push ended before the hook ran: %v\n%s", err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the pre-receive hook did not run")
		}
	}
	if vars["NEW"] != commit {
		t.Fatalf("the hook saw %q pushed, want %s", vars["NEW"], commit)
	}
	return bare, Quarantine{
		ObjectDirectory:            vars["GIT_OBJECT_DIRECTORY"],
		AlternateObjectDirectories: vars["GIT_ALTERNATE_OBJECT_DIRECTORIES"],
		QuarantinePath:             vars["GIT_QUARANTINE_PATH"],
	}, commit
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func TestQuarantine(t *testing.T) {
	ctx := context.Background()
	bare, q, commit := pushIntoQuarantine(t)
	if q.ObjectDirectory == "" || q.AlternateObjectDirectories == "" || q.QuarantinePath == "" {
		t.Fatalf("the hook saw no quarantine: %+v", q)
	}
	repo, err := Open(bare)
	if err != nil {
		t.Fatal(err)
	}

	// The repository itself does not hold the pushed commit.
	plain, err := repo.NewBatch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := plain.Read(commit); !errors.Is(err, ErrObjectNotFound) {
		t.Fatalf("the repository reads the pushed commit outside the quarantine: %v", err)
	}
	if _, err := repo.IsAncestor(ctx, commit, commit); err == nil {
		t.Error("merge-base found the pushed commit outside the quarantine")
	}

	qr, err := repo.WithQuarantine(q)
	if err != nil {
		t.Fatal(err)
	}
	b, err := qr.NewBatch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	obj, err := b.Read(commit)
	if err != nil || obj.Type != "commit" {
		t.Fatalf("read the pushed commit through the quarantine: %v, %v", obj, err)
	}
	tree, err := b.TreeID(commit, "pkg")
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := qr.TreeFS(b, tree)
	if err != nil {
		t.Fatal(err)
	}
	if data, err := fs.ReadFile(fsys, "Kptfile"); err != nil || string(data) != gittest.Kptfile("pkg") {
		t.Errorf("Kptfile through the quarantine = %q, %v", data, err)
	}
	if ok, err := qr.IsAncestor(ctx, commit, commit); !ok || err != nil {
		t.Errorf("IsAncestor through the quarantine = %v, %v", ok, err)
	}
	var logged []string
	err = qr.Log(ctx, commit, nil, "", func(c string, _ []string) bool {
		logged = append(logged, c)
		return true
	})
	if err != nil || len(logged) != 1 || logged[0] != commit {
		t.Errorf("Log through the quarantine = %v, %v", logged, err)
	}
	if _, err := repo.TreeFS(b, tree); err == nil {
		t.Error("the repository's TreeFS accepted the quarantine's batch")
	}
	if same, err := repo.WithQuarantine(Quarantine{}); same != repo || err != nil {
		t.Errorf("WithQuarantine(empty) = %p, %v; want the repository itself", same, err)
	}
}

func TestQuarantineOutsideTheRepository(t *testing.T) {
	bare, q, _ := pushIntoQuarantine(t)
	repo, err := Open(bare)
	if err != nil {
		t.Fatal(err)
	}
	other := gittest.New(t)
	otherObjects := filepath.Join(other.GitDir(), "objects")
	objects := filepath.Join(bare, "objects")
	link := filepath.Join(objects, "tmp_objdir-incoming-evil")
	if err := os.Symlink(otherObjects, link); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(link)

	with := func(f func(q *Quarantine)) Quarantine {
		c := q
		f(&c)
		return c
	}
	tests := []struct {
		name     string
		q        Quarantine
		variable string
	}{
		{"another repository", with(func(q *Quarantine) { q.ObjectDirectory = otherObjects }), "GIT_OBJECT_DIRECTORY"},
		{"dot-dot", with(func(q *Quarantine) { q.ObjectDirectory = objects + "/../../other/objects" }), "GIT_OBJECT_DIRECTORY"},
		{"dot-dot back inside", with(func(q *Quarantine) { q.ObjectDirectory = objects + "/../objects" }), "GIT_OBJECT_DIRECTORY"},
		{"symlink out", with(func(q *Quarantine) { q.ObjectDirectory = link }), "GIT_OBJECT_DIRECTORY"},
		{"relative", with(func(q *Quarantine) { q.ObjectDirectory = "objects" }), "GIT_OBJECT_DIRECTORY"},
		{"missing", with(func(q *Quarantine) { q.ObjectDirectory = "" }), "GIT_OBJECT_DIRECTORY"},
		{"parent", with(func(q *Quarantine) { q.ObjectDirectory = bare }), "GIT_OBJECT_DIRECTORY"},
		{"alternate elsewhere", with(func(q *Quarantine) { q.AlternateObjectDirectories += ":" + otherObjects }), "GIT_ALTERNATE_OBJECT_DIRECTORIES"},
		{"quoted alternate", with(func(q *Quarantine) { q.AlternateObjectDirectories = `"` + objects + `"` }), "GIT_ALTERNATE_OBJECT_DIRECTORIES"},
		{"quarantine path elsewhere", with(func(q *Quarantine) { q.QuarantinePath = os.TempDir() }), "GIT_QUARANTINE_PATH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := repo.WithQuarantine(tt.q)
			if err == nil {
				t.Fatalf("accepted: %+v", r.env)
			}
			if !strings.Contains(err.Error(), tt.variable) {
				t.Errorf("error %q does not name %s", err, tt.variable)
			}
		})
	}
	if _, err := repo.WithQuarantine(q); err != nil {
		t.Errorf("the real quarantine was refused: %v", err)
	}
}
