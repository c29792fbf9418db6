package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The objects the tests start from are made through the API directly (not
// kubectl), so that a kubectl command that fails shows as its own failing
// subtest rather than breaking the others.

// hostedRepo is the body of a hosted repository with a sync interval.
func hostedRepo(name string, interval string) map[string]any {
	return map[string]any{
		"apiVersion": "config.pkg.pkgserver.dev/v1alpha1",
		"kind":       "Repository",
		"metadata":   map[string]any{"name": name, "namespace": "default"},
		"spec": map[string]any{
			"type":     "git",
			"provider": "hosted",
			"sync":     map[string]any{"interval": interval},
		},
	}
}

// newRepo registers a repository and waits until it is Ready.
func (s *server) newRepo(t *testing.T, body map[string]any) {
	t.Helper()
	s.mustDo(t, 201, "POST", reposPath, body)
	s.waitCondition(t, str(body, "metadata", "name"), "True")
}

// waitCondition waits up to a minute for the repository's Ready condition
// to have status want, as the API answers it.
func (s *server) waitCondition(t *testing.T, name, want string) map[string]any {
	t.Helper()
	var obj map[string]any
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		obj = s.mustDo(t, 200, "GET", reposPath+"/"+name, nil)
		if readyStatus(obj) == want {
			return obj
		}
	}
	t.Fatalf("repository %s: Ready is not %s after a minute: %v", name, want, field(obj, "status"))
	return nil
}

func readyStatus(repo map[string]any) string {
	conds, _ := field(repo, "status", "conditions").([]any)
	for _, c := range conds {
		if str(c, "type") == "Ready" {
			return str(c, "status")
		}
	}
	return ""
}

// draftBody is the body of a new Draft of pkg in repo made by an init task,
// with labels.
func draftBody(repo, pkg, ws string, labels map[string]string) map[string]any {
	meta := map[string]any{"name": repo + "." + pkg + "." + ws, "namespace": "default"}
	if labels != nil {
		meta["labels"] = labels
	}
	return map[string]any{
		"apiVersion": "pkg.pkgserver.dev/v1alpha1",
		"kind":       "PackageRevision",
		"metadata":   meta,
		"spec": map[string]any{
			"repository": repo, "packageName": pkg, "workspaceName": ws, "lifecycle": "Draft",
			"tasks": []any{map[string]any{"type": "init", "init": map[string]any{"description": "made by the kubectl test"}}},
		},
	}
}

// newDraft creates a Draft through the API and returns its name.
func (s *server) newDraft(t *testing.T, repo, pkg, ws string, labels map[string]string) string {
	t.Helper()
	obj := s.mustDo(t, 201, "POST", revsPath, draftBody(repo, pkg, ws, labels))
	name := str(obj, "metadata", "name")
	if want := repo + "." + pkg + "." + ws; name != want {
		t.Fatalf("the new draft is named %q, want %q", name, want)
	}
	return name
}

// setLifecycle moves a revision: through PUT of the revision (Draft to
// Proposed) or of its approval (Proposed to Published).
func (s *server) setLifecycle(t *testing.T, name, lifecycle string, approval bool) {
	t.Helper()
	obj := s.mustDo(t, 200, "GET", revsPath+"/"+name, nil)
	obj["spec"].(map[string]any)["lifecycle"] = lifecycle
	path := revsPath + "/" + name
	if approval {
		path += "/approval"
	}
	s.mustDo(t, 200, "PUT", path, obj)
}

// publish proposes and approves a Draft.
func (s *server) publish(t *testing.T, name string) {
	t.Helper()
	s.setLifecycle(t, name, "Proposed", false)
	s.setLifecycle(t, name, "Published", true)
}

// gitDir is the hosted repository's git directory on the server.
func (s *server) gitDir(repo string) string {
	return filepath.Join(s.data, "repos", "default", repo+".git")
}

// git runs git in the hosted repository's directory.
func (s *server) git(t *testing.T, repo string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"--git-dir", s.gitDir(repo)}, args...)...).Output()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, exitStderr(err))
	}
	return string(out)
}

// refs are the hosted repository's refs, name to object.
func (s *server) refs(t *testing.T, repo string) map[string]string {
	t.Helper()
	refs := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(s.git(t, repo, "for-each-ref", "--format=%(refname) %(objectname)")), "\n") {
		if name, obj, ok := strings.Cut(line, " "); ok {
			refs[name] = obj
		}
	}
	return refs
}

// kptfile reads pkg's Kptfile at ref in the hosted repository.
func (s *server) kptfile(t *testing.T, repo, ref, pkg string) map[string]any {
	t.Helper()
	return fromYAML(t, s.git(t, repo, "show", ref+":"+pkg+"/Kptfile"))
}

// draftRef is the branch of a Draft of pkg in workspace ws.
func draftRef(pkg, ws string) string { return "refs/heads/drafts/" + pkg + "/" + ws }

// state is what git and the index hold, to show that a dry run changed
// nothing.
type state struct {
	Refs         map[string]string
	Objects      []string // every object in the git directory
	Count        string   // git count-objects -v
	Repos        []string // the hosted git directories of the namespace
	Revisions    []string // name, lifecycle and resourceVersion of every revision
	Repositories []string // name, generation and spec of every repository
}

func (s *server) state(t *testing.T, repo string) state {
	t.Helper()
	st := state{Refs: s.refs(t, repo), Count: s.git(t, repo, "count-objects", "-v")}
	st.Objects = strings.Split(strings.TrimSpace(s.git(t, repo, "cat-file", "--batch-all-objects", "--batch-check")), "\n")
	entries, err := os.ReadDir(filepath.Join(s.data, "repos", "default"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		st.Repos = append(st.Repos, e.Name())
	}
	list := s.mustDo(t, 200, "GET", revsPath, nil)
	items, _ := list["items"].([]any)
	for _, it := range items {
		st.Revisions = append(st.Revisions, fmt.Sprintf("%s %s %s", str(it, "metadata", "name"),
			str(it, "spec", "lifecycle"), str(it, "metadata", "resourceVersion")))
	}
	list = s.mustDo(t, 200, "GET", reposPath, nil)
	items, _ = list["items"].([]any)
	for _, it := range items {
		// Not the resourceVersion: a sync's status changes it.
		spec, _ := json.Marshal(field(it, "spec"))
		st.Repositories = append(st.Repositories, fmt.Sprintf("%s %v %s", str(it, "metadata", "name"),
			field(it, "metadata", "generation"), spec))
	}
	slices.Sort(st.Repositories)
	return st
}

// unchanged fails the test if git or the index changed since before.
func (s *server) unchanged(t *testing.T, repo string, before state) {
	t.Helper()
	if diff := cmp.Diff(before, s.state(t, repo)); diff != "" {
		t.Errorf("a dry run changed git or the index (-before +after):\n%s", diff)
	}
}
