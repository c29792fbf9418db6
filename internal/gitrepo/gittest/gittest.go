// Package gittest builds real git repositories for tests, with the git
// command: packages, commits, branches and tags laid out as a test needs.
package gittest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Repo is a repository with a work tree, on the branch main.
type Repo struct {
	t   testing.TB
	Dir string
	// clock advances one minute per commit, so that histories are
	// deterministic.
	clock time.Time
}

// New creates an empty repository in a temporary directory.
func New(t testing.TB) *Repo {
	t.Helper()
	r := &Repo{t: t, Dir: t.TempDir(), clock: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	r.Git("init", "-q", "-b", "main")
	return r
}

// GitDir is the repository's .git directory.
func (r *Repo) GitDir() string { return filepath.Join(r.Dir, ".git") }

func (r *Repo) env() []string {
	date := r.clock.Format(time.RFC3339)
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + r.Dir,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=Ada Author", "GIT_AUTHOR_EMAIL=ada@example.com", "GIT_AUTHOR_DATE=" + date,
		"GIT_COMMITTER_NAME=Carl Committer", "GIT_COMMITTER_EMAIL=carl@example.com", "GIT_COMMITTER_DATE=" + date,
	}
}

// Git runs git in the work tree and returns its trimmed output.
func (r *Repo) Git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.Dir
	cmd.Env = r.env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// Write writes files (path relative to the work tree → content) and stages
// them.
func (r *Repo) Write(files map[string]string) {
	r.t.Helper()
	for p, content := range files {
		full := filepath.Join(r.Dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
		r.Git("add", "--", p)
	}
}

// Symlink creates a symbolic link at path (relative to the work tree)
// pointing at target, and stages it.
func (r *Repo) Symlink(path, target string) {
	r.t.Helper()
	full := filepath.Join(r.Dir, path)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Symlink(target, full); err != nil {
		r.t.Fatal(err)
	}
	r.Git("add", "--", path)
}

// Remove deletes paths from the work tree and the index.
func (r *Repo) Remove(paths ...string) {
	r.t.Helper()
	r.Git(append([]string{"rm", "-r", "-q", "--"}, paths...)...)
}

// Commit commits what is staged and returns the commit id.
func (r *Repo) Commit(msg string) string {
	r.t.Helper()
	r.clock = r.clock.Add(time.Minute)
	r.Git("commit", "-q", "--allow-empty", "-m", msg)
	return r.Git("rev-parse", "HEAD")
}

// Checkout switches branches, creating the branch with -b.
func (r *Repo) Checkout(args ...string) {
	r.t.Helper()
	r.Git(append([]string{"checkout", "-q"}, args...)...)
}

// Tag creates a lightweight tag, or an annotated one with a message.
func (r *Repo) Tag(name, target, message string) {
	r.t.Helper()
	r.clock = r.clock.Add(time.Minute)
	if message == "" {
		r.Git("tag", name, target)
		return
	}
	r.Git("tag", "-a", "-m", message, name, target)
}

// Rev returns the id of a revision.
func (r *Repo) Rev(rev string) string {
	r.t.Helper()
	return r.Git("rev-parse", rev)
}

// MergeCommit makes a commit with the tree of treeish and the given
// parents, as Porch makes its approval commits, and moves branch to it.
func (r *Repo) MergeCommit(branch, treeish, msg string, parents ...string) string {
	r.t.Helper()
	r.clock = r.clock.Add(time.Minute)
	args := []string{"commit-tree", treeish + "^{tree}", "-m", msg}
	for _, p := range parents {
		args = append(args, "-p", p)
	}
	c := r.Git(args...)
	r.Git("update-ref", "refs/heads/"+branch, c)
	return c
}

// Kptfile returns the text of a minimal Kptfile for a package.
func Kptfile(name string) string {
	return fmt.Sprintf("apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: %s\n", name)
}

// Package returns the files of a small package at dir: a Kptfile and a
// ConfigMap whose data records version.
func Package(dir, version string) map[string]string {
	name := filepath.Base(dir)
	return map[string]string{
		dir + "/Kptfile": Kptfile(name),
		dir + "/config.yaml": fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata:\n  version: %q\n",
			name, version),
	}
}
