package main

import (
	"bytes"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/pkgserver/pkgserver/test/bench/repogen"
)

// gitClient runs the git client as a user of the git host would, over SSH
// with one key and the server's host key trusted, and nothing of this
// machine's git or SSH configuration.
type gitClient struct {
	env []string
}

func newGitClient(home, key, knownHosts string) *gitClient {
	ssh := "ssh -F /dev/null -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile=" + knownHosts + " -i " + key
	return &gitClient{env: []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_SSH_COMMAND=" + ssh,
		"GIT_AUTHOR_NAME=Bench", "GIT_AUTHOR_EMAIL=bench@example.com",
		"GIT_COMMITTER_NAME=Bench", "GIT_COMMITTER_EMAIL=bench@example.com",
	}}
}

// run runs git in dir ("" for here) and returns its standard output,
// trimmed; a failure ends the benchmark.
func (g *gitClient) run(dir string, args ...string) string {
	out, _, err := g.try(dir, nil, args...)
	if err != nil {
		log.Fatal(err)
	}
	return out
}

// try runs git and returns its standard output and error.
func (g *gitClient) try(dir string, stdin []byte, args ...string) (stdout, stderr string, err error) {
	if dir != "" {
		args = append([]string{"-C", dir}, args...)
	}
	cmd := exec.Command("git", args...)
	cmd.Env = g.env
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		return "", e.String(), fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(e.String()))
	}
	return strings.TrimSpace(o.String()), e.String(), nil
}

// timed runs git and returns how long it took.
func (g *gitClient) timed(dir string, args ...string) time.Duration {
	start := time.Now()
	g.run(dir, args...)
	return time.Since(start)
}

// seed makes the first content of a hosted repository in a working clone:
// the packages of a generated repository (Kptfile, Deployment and
// ConfigMap each) in one commit on top of the hosted repository's first
// commit, and a tag <pkg>/v1 per package on it. It returns the number of
// refs a push of main and the tags updates.
func (g *gitClient) seed(out, sshURL, work string, packages int) int {
	gen := filepath.Join(out, fmt.Sprintf("gen-%d.git", packages))
	if err := repogen.Generate(gen, repogen.Spec{Packages: packages, Revisions: 1}); err != nil {
		log.Fatal(err)
	}
	g.run("", "clone", "-q", sshURL, work)
	g.run(work, "fetch", "-q", "--no-tags", gen, "refs/heads/main:refs/remotes/gen/main")
	tree := g.run(work, "rev-parse", "refs/remotes/gen/main^{tree}")
	commit := g.run(work, "commit-tree", tree, "-p", "HEAD", "-m", fmt.Sprintf("Add %d packages, release 1", packages))
	g.run(work, "update-ref", "refs/heads/main", commit)
	var refs strings.Builder
	for i := range packages {
		fmt.Fprintf(&refs, "create refs/tags/%s/v1 %s\n", repogen.PackagePath(i), commit)
	}
	if _, _, err := g.try(work, []byte(refs.String()), "update-ref", "--stdin"); err != nil {
		log.Fatal(err)
	}
	return packages + 1
}

// configMap is a package's ConfigMap as an edit leaves it.
func configMap(i int, version string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: app-%05d-config
data:
  version: %q
  log-level: debug
`, i, version)
}

// edit changes the i-th package's ConfigMap in a working tree and commits.
func (g *gitClient) edit(work string, i int, version string) {
	path := filepath.Join(work, repogen.PackagePath(i), "configmap.yaml")
	if err := os.WriteFile(path, []byte(configMap(i, version)), 0o644); err != nil {
		log.Fatal(err)
	}
	g.run(work, "commit", "-q", "-a", "-m", "Edit "+repogen.PackagePath(i)+": "+version)
}
