package gitserver

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// TestRemoveLeftovers: what killed git processes leave is removed, and
// nothing else of the repository.
func TestRemoveLeftovers(t *testing.T) {
	root := t.TempDir()
	gitDir := filepath.Join(root, "default", "catalog.git")
	if out, err := exec.Command("git", "init", "-q", "--bare", gitDir).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v %s", err, out)
	}
	leftovers := []string{
		"objects/tmp_objdir-incoming-a1B2c3/pack/tmp_pack_x",
		"objects/tmp_objdir-incoming-Zz9/ab/cdef",
		"objects/pack/tmp_pack_Qw3",
		"objects/pack/tmp_idx_Qw3",
		"refs/heads/drafts/nginx/v1.lock",
		"refs/tags/nginx/v1.lock",
		"packed-refs.lock",
		"HEAD.lock",
		"../.catalog.git.tmp-123/HEAD",
	}
	kept := []string{
		"objects/pack/pack-0123.pack",
		"objects/ab/cdef",
		"refs/heads/main",
		"refs/heads/lock",
		"hooks/pre-receive",
		"../other.git/objects/tmp_objdir-incoming-x/y", // another repository's
		"../.other.git.tmp-1/HEAD",
	}
	for _, p := range append(slices.Clone(leftovers), kept...) {
		full := filepath.Join(gitDir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := RemoveLeftovers(gitDir); err != nil {
		t.Fatal(err)
	}
	for _, p := range leftovers {
		if _, err := os.Stat(filepath.Join(gitDir, p)); !os.IsNotExist(err) {
			t.Errorf("%s is left: %v", p, err)
		}
	}
	for _, p := range []string{"objects/tmp_objdir-incoming-a1B2c3", "../.catalog.git.tmp-123"} {
		if _, err := os.Stat(filepath.Join(gitDir, p)); !os.IsNotExist(err) {
			t.Errorf("directory %s is left: %v", p, err)
		}
	}
	for _, p := range kept {
		if _, err := os.Stat(filepath.Join(gitDir, p)); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
}
