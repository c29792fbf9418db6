package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/pkgserver/pkgserver/internal/revision"
)

// check is what the repository's git says of the publications, read after
// the server stopped.
type check struct {
	pubs      int // publications, warm-up included
	answered  int // with every step answered as expected
	distinct  bool
	tagsWant  int // generated tags plus one per publication
	tagsGot   int
	missing   []string // tags of publications not in `git tag --list`
	notOnMain []string // tags whose commit is not an ancestor of main
	subjects  int      // tags whose commit says "Publish <pkg> v<N>"
	edited    int      // tags whose package has the edit's ConfigMap
	leftover  int      // drafts/ and proposed/ branches left
}

func (c check) ok() bool {
	return c.answered == c.pubs && c.distinct && c.tagsGot == c.tagsWant && len(c.missing) == 0 &&
		len(c.notOnMain) == 0 && c.subjects == c.pubs && c.edited == c.pubs && c.leftover == 0
}

// verify checks that every publication made its own v<N>, and that the
// bare repository has each one's tag, on a commit of main, holding the
// edit.
func verify(r *repo, revisions int) (check, error) {
	all := append(append([]publication(nil), r.warmUp...), r.pubs...)
	c := check{pubs: len(all), distinct: true, tagsWant: r.Packages*revisions + len(all)}
	seen := map[string]bool{}
	for _, p := range all {
		if p.OK() {
			c.answered++
		}
		key := p.Pkg + "/" + p.Revision
		if p.Revision == "" || seen[key] {
			c.distinct = false
		}
		seen[key] = true
	}

	out, err := git(r.gitDir, "tag", "--list")
	if err != nil {
		return c, err
	}
	tags := map[string]bool{}
	for _, t := range strings.Fields(out) {
		tags[t] = true
	}
	c.tagsGot = len(tags)
	out, err = git(r.gitDir, "for-each-ref", "--format=%(refname:lstrip=2) %(subject)", "refs/tags/")
	if err != nil {
		return c, err
	}
	subject := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if t, s, ok := strings.Cut(line, " "); ok {
			subject[t] = s
		}
	}
	for _, p := range all {
		tag := p.Pkg + "/" + revision.FormatRevision(p.Want)
		if !tags[tag] {
			c.missing = append(c.missing, tag)
			continue
		}
		if _, err := git(r.gitDir, "merge-base", "--is-ancestor", "refs/tags/"+tag, "refs/heads/main"); err != nil {
			c.notOnMain = append(c.notOnMain, tag)
		}
		if subject[tag] == fmt.Sprintf("Publish %s %s", p.Pkg, revision.FormatRevision(p.Want)) {
			c.subjects++
		}
		cm, err := git(r.gitDir, "show", "refs/tags/"+tag+":"+p.Pkg+"/configmap.yaml")
		if err == nil && strings.Contains(cm, fmt.Sprintf("version: %q", p.Version)) {
			c.edited++
		}
	}
	out, err = git(r.gitDir, "for-each-ref", "--format=%(refname)", "refs/heads/drafts/", "refs/heads/proposed/")
	if err != nil {
		return c, err
	}
	c.leftover = len(strings.Fields(out))
	return c, nil
}

func git(gitDir string, args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"--git-dir=" + gitDir}, args...)...)
	cmd.Env = gitEnv()
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

// gitEnv keeps the user's and the system's git configuration out.
func gitEnv() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=/nonexistent", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"}
}
