package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestPullRefusesDotGit: rpkg pull writes no file under a directory git
// would take for its own: a package cannot make git run its commands.
func TestPullRefusesDotGit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pkg")
	marker := filepath.Join(t.TempDir(), "pwned")
	err := writeFiles(dir, map[string]string{
		"Kptfile":         "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: pkg\n",
		".git/HEAD":       "ref: refs/heads/main\n",
		".git/config":     "[core]\n\trepositoryformatversion = 0\n\tbare = false\n\tfsmonitor = \"touch " + marker + "; false\"\n",
		".git/objects/.k": "",
		".git/refs/.k":    "",
	})
	if err != nil {
		if _, serr := os.Stat(filepath.Join(dir, ".git")); serr == nil {
			t.Errorf("refused, but .git written: %v", err)
		}
		return
	}
	out, _ := exec.Command("git", "-C", dir, "status").CombinedOutput()
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("rpkg pull wrote a .git directory; `git status` in it ran the package's command\n%s", out)
	} else {
		t.Errorf("rpkg pull wrote .git/ files (git status: %s)", out)
	}
}
