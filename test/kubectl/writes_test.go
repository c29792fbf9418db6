package e2e

import (
	"maps"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// repoYAML is a hosted repository's manifest.
func repoYAML(name, interval string, labels ...string) string {
	y := "apiVersion: config.pkg.pkgserver.dev/v1alpha1\nkind: Repository\nmetadata:\n  name: " + name + "\n  namespace: default\n"
	if len(labels) > 0 {
		y += "  labels:\n"
		for _, l := range labels {
			k, v, _ := strings.Cut(l, "=")
			y += "    " + k + ": " + v + "\n"
		}
	}
	return y + "spec:\n  type: git\n  provider: hosted\n  sync:\n    interval: " + interval + "\n"
}

// draftYAML is the manifest of a new Draft of pkg in blueprints, made by an
// init task, with labels (k=v).
func draftYAML(pkg, ws string, labels ...string) string {
	y := "apiVersion: pkg.pkgserver.dev/v1alpha1\nkind: PackageRevision\nmetadata:\n  name: blueprints." + pkg + "." + ws + "\n  namespace: default\n"
	if len(labels) > 0 {
		y += "  labels:\n"
		for _, l := range labels {
			k, v, _ := strings.Cut(l, "=")
			y += "    " + k + ": " + v + "\n"
		}
	}
	return y + `spec:
  repository: blueprints
  packageName: ` + pkg + `
  workspaceName: ` + ws + `
  lifecycle: Draft
  tasks:
  - type: init
    init:
      description: made by kubectl
`
}

// checkDraftLabels checks the labels the Draft's Kptfile holds in git and
// the API shows: want, and no others of the user's.
func (s *server) checkDraftLabels(t *testing.T, pkg, ws string, want map[string]string) {
	t.Helper()
	kpt := s.kptfile(t, "blueprints", draftRef(pkg, ws), pkg)
	got := map[string]string{}
	if m, ok := field(kpt, "metadata", "labels").(map[string]any); ok {
		for k, v := range m {
			got[k], _ = v.(string)
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("the Kptfile of %s/%s in git has labels %v, want %v", pkg, ws, got, want)
	}
	obj := s.mustDo(t, 200, "GET", revsPath+"/blueprints."+pkg+"."+ws, nil)
	shown := map[string]string{}
	if m, ok := field(obj, "metadata", "labels").(map[string]any); ok {
		for k, v := range m {
			if !strings.HasPrefix(k, "pkg.pkgserver.dev/") {
				shown[k], _ = v.(string)
			}
		}
	}
	if !maps.Equal(shown, want) {
		t.Errorf("the API shows %s/%s with labels %v, want %v", pkg, ws, shown, want)
	}
}

func testCreate(t *testing.T, s *server) {
	t.Run("repository", func(t *testing.T) {
		f := writeFile(t, "repo.yaml", repoYAML("created", "60s"))
		before := s.state(t, "blueprints")
		out := s.kubectl(t, "create", "-f", f, "--dry-run=server")
		if want := "repository.config.pkg.pkgserver.dev/created created (server dry run)\n"; out != want {
			t.Errorf("--dry-run=server printed %q, want %q", out, want)
		}
		s.unchanged(t, "blueprints", before)
		if code, _ := s.do(t, "GET", reposPath+"/created", nil); code != 404 {
			t.Errorf("after a dry run, GET of the repository answers %d, want 404", code)
		}

		out = s.kubectl(t, "create", "-f", f)
		if want := "repository.config.pkg.pkgserver.dev/created created\n"; out != want {
			t.Errorf("printed %q, want %q", out, want)
		}
		obj := s.waitCondition(t, "created", "True")
		s.git(t, "created", "rev-parse", "--git-dir") // the hosted git repository exists
		// Git's smart HTTP is served on the same TLS listener: the new
		// repository answers there with the admin token, trusting the CA.
		clone := str(obj, "status", "cloneURLs", "http")
		if want := s.url + "/git/default/created.git"; clone != want {
			t.Errorf("status.cloneURLs.http is %q, want %q", clone, want)
		}
		ls := exec.Command("git", "ls-remote", strings.Replace(s.url, "https://", "https://admin:"+s.adminToken(t)+"@", 1)+"/git/default/created.git")
		ls.Env = append(pkgserverEnv(), "GIT_SSL_CAINFO="+filepath.Join(s.data, "tls", "ca.crt"), "GIT_TERMINAL_PROMPT=0")
		if out, err := ls.CombinedOutput(); err != nil {
			t.Errorf("git ls-remote of the new repository over https: %v\n%s", err, out)
		}
		s.kubectlFails(t, []string{`repositories.config.pkg.pkgserver.dev "created" already exists`}, "create", "-f", f)
	})
	t.Run("unknown field", func(t *testing.T) {
		// kubectl validates strictly by default (fieldValidation=Strict):
		// a field the kind does not have is refused and nothing is made.
		f := writeFile(t, "repo.yaml", repoYAML("strict", "1m0s")+"  bogus: true\n")
		before := s.state(t, "blueprints")
		s.kubectlFails(t, []string{"unknown field", "bogus"}, "create", "-f", f)
		s.unchanged(t, "blueprints", before)
		if code, _ := s.do(t, "GET", reposPath+"/strict", nil); code != 404 {
			t.Errorf("GET of the refused repository answers %d, want 404", code)
		}
	})
	t.Run("packagerevision", func(t *testing.T) {
		f := writeFile(t, "draft.yaml", draftYAML("created", "v1"))
		before := s.state(t, "blueprints")
		out := s.kubectl(t, "create", "-f", f, "--dry-run=server")
		if want := "packagerevision.pkg.pkgserver.dev/blueprints.created.v1 created (server dry run)\n"; out != want {
			t.Errorf("--dry-run=server printed %q, want %q", out, want)
		}
		s.unchanged(t, "blueprints", before)
		if code, _ := s.do(t, "GET", revsPath+"/blueprints.created.v1", nil); code != 404 {
			t.Errorf("after a dry run, GET of the revision answers %d, want 404", code)
		}

		out = s.kubectl(t, "create", "-f", f)
		if want := "packagerevision.pkg.pkgserver.dev/blueprints.created.v1 created\n"; out != want {
			t.Errorf("printed %q, want %q", out, want)
		}
		if _, ok := s.refs(t, "blueprints")[draftRef("created", "v1")]; !ok {
			t.Errorf("git has no %s", draftRef("created", "v1"))
		}
		kpt := s.kptfile(t, "blueprints", draftRef("created", "v1"), "created")
		if str(kpt, "metadata", "name") != "created" || str(kpt, "info", "description") != "made by kubectl" {
			t.Errorf("the new Kptfile: %v", kpt)
		}
		obj := s.mustDo(t, 200, "GET", revsPath+"/blueprints.created.v1", nil)
		if str(obj, "spec", "lifecycle") != "Draft" {
			t.Errorf("the API shows the new revision as %q", str(obj, "spec", "lifecycle"))
		}
	})
}

func testDelete(t *testing.T, s *server) {
	t.Run("packagerevision", func(t *testing.T) {
		name := s.newDraft(t, "blueprints", "deleted", "v1", nil)
		before := s.state(t, "blueprints")
		out := s.kubectl(t, "delete", "packagerevision", name, "--dry-run=server")
		if want := `packagerevision.pkg.pkgserver.dev "` + name + `" deleted from default namespace (server dry run)` + "\n"; out != want {
			t.Errorf("--dry-run=server printed %q, want %q", out, want)
		}
		s.unchanged(t, "blueprints", before)

		out = s.kubectl(t, "delete", "packagerevision", name)
		if want := `packagerevision.pkg.pkgserver.dev "` + name + `" deleted from default namespace` + "\n"; out != want {
			t.Errorf("printed %q, want %q", out, want)
		}
		after := s.refs(t, "blueprints")
		if _, ok := after[draftRef("deleted", "v1")]; ok {
			t.Errorf("git still has %s", draftRef("deleted", "v1"))
		}
		delete(before.Refs, draftRef("deleted", "v1"))
		if !maps.Equal(before.Refs, after) {
			t.Errorf("deleting the draft changed other refs: %v, then %v", before.Refs, after)
		}
		if code, _ := s.do(t, "GET", revsPath+"/"+name, nil); code != 404 {
			t.Errorf("GET of the deleted revision answers %d, want 404", code)
		}
	})
	t.Run("repository", func(t *testing.T) {
		s.newRepo(t, hostedRepo("doomed", "60s"))
		s.newDraft(t, "doomed", "pkg", "v1", nil)
		before := s.state(t, "blueprints")
		doomed := s.refs(t, "doomed")
		out := s.kubectl(t, "delete", "repository", "doomed", "--dry-run=server")
		if want := `repository.config.pkg.pkgserver.dev "doomed" deleted from default namespace (server dry run)` + "\n"; out != want {
			t.Errorf("--dry-run=server printed %q, want %q", out, want)
		}
		s.unchanged(t, "blueprints", before)

		s.kubectl(t, "delete", "repository", "doomed")
		if code, _ := s.do(t, "GET", reposPath+"/doomed", nil); code != 404 {
			t.Errorf("GET of the deleted repository answers %d, want 404", code)
		}
		if code, _ := s.do(t, "GET", revsPath+"/doomed.pkg.v1", nil); code != 404 {
			t.Errorf("GET of a revision of the deleted repository answers %d, want 404", code)
		}
		// Deleting a repository never touches its git.
		if after := s.refs(t, "doomed"); !maps.Equal(doomed, after) {
			t.Errorf("the deleted repository's git changed: %v, then %v", doomed, after)
		}
	})
}

func testApply(t *testing.T, s *server) {
	t.Run("repository", func(t *testing.T) {
		out := s.kubectl(t, "apply", "-f", writeFile(t, "repo.yaml", repoYAML("applied", "1m0s")))
		if want := "repository.config.pkg.pkgserver.dev/applied created\n"; out != want {
			t.Errorf("printed %q, want %q", out, want)
		}
		first := s.waitCondition(t, "applied", "True")
		// Durations as the API writes them ("1m30s", not "90s"): applying
		// the same file again then has nothing to change.
		f := writeFile(t, "repo2.yaml", repoYAML("applied", "1m30s", "team=platform"))
		out = s.kubectl(t, "apply", "-f", f)
		if want := "repository.config.pkg.pkgserver.dev/applied configured\n"; out != want {
			t.Errorf("printed %q, want %q", out, want)
		}
		obj := s.mustDo(t, 200, "GET", reposPath+"/applied", nil)
		if d := durationOf(t, obj, "spec", "sync", "interval"); d != 90*time.Second {
			t.Errorf("spec.sync.interval is %s, want 90s", d)
		}
		if str(obj, "metadata", "labels", "team") != "platform" {
			t.Errorf("metadata.labels is %v", field(obj, "metadata", "labels"))
		}
		if g0, g1 := field(first, "metadata", "generation"), field(obj, "metadata", "generation"); g1 == g0 {
			t.Errorf("metadata.generation stayed %v through a change of spec", g1)
		}
		out = s.kubectl(t, "apply", "-f", f)
		if want := "repository.config.pkg.pkgserver.dev/applied unchanged\n"; out != want {
			t.Errorf("applied again: printed %q, want %q", out, want)
		}
	})
	t.Run("packagerevision", func(t *testing.T) {
		out := s.kubectl(t, "apply", "-f", writeFile(t, "draft.yaml", draftYAML("applied", "v1", "tier=silver")))
		if want := "packagerevision.pkg.pkgserver.dev/blueprints.applied.v1 created\n"; out != want {
			t.Errorf("printed %q, want %q", out, want)
		}
		s.checkDraftLabels(t, "applied", "v1", map[string]string{"tier": "silver"})
		out = s.kubectl(t, "apply", "-f", writeFile(t, "draft2.yaml", draftYAML("applied", "v1", "tier=gold", "env=dev")))
		if want := "packagerevision.pkg.pkgserver.dev/blueprints.applied.v1 configured\n"; out != want {
			t.Errorf("printed %q, want %q", out, want)
		}
		s.checkDraftLabels(t, "applied", "v1", map[string]string{"tier": "gold", "env": "dev"})
	})
}

func testApplyServerSide(t *testing.T, s *server) {
	t.Run("repository", func(t *testing.T) {
		out := s.kubectl(t, "apply", "--server-side", "-f", writeFile(t, "repo.yaml", repoYAML("ssa", "60s")))
		if want := "repository.config.pkg.pkgserver.dev/ssa serverside-applied\n"; out != want {
			t.Errorf("printed %q, want %q", out, want)
		}
		obj := s.waitCondition(t, "ssa", "True")
		managers, _ := field(obj, "metadata", "managedFields").([]any)
		found := false
		for _, m := range managers {
			found = found || str(m, "manager") == "kubectl" && str(m, "operation") == "Apply"
		}
		if !found {
			t.Errorf("metadata.managedFields has no Apply of kubectl: %v", managers)
		}
		s.kubectl(t, "apply", "--server-side", "-f", writeFile(t, "repo2.yaml", repoYAML("ssa", "90s")))
		obj = s.mustDo(t, 200, "GET", reposPath+"/ssa", nil)
		if d := durationOf(t, obj, "spec", "sync", "interval"); d != 90*time.Second {
			t.Errorf("spec.sync.interval is %s, want 90s", d)
		}

		// Another manager setting kubectl's field conflicts, and changes
		// nothing, unless it forces.
		f := writeFile(t, "repo3.yaml", repoYAML("ssa", "120s"))
		s.kubectlFails(t, []string{"conflict", `"kubectl"`, ".spec.sync.interval"}, "apply", "--server-side", "--field-manager=other", "-f", f)
		obj = s.mustDo(t, 200, "GET", reposPath+"/ssa", nil)
		if d := durationOf(t, obj, "spec", "sync", "interval"); d != 90*time.Second {
			t.Errorf("after a conflict, spec.sync.interval is %s, want 90s", d)
		}
		s.kubectl(t, "apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", f)
		obj = s.mustDo(t, 200, "GET", reposPath+"/ssa", nil)
		if d := durationOf(t, obj, "spec", "sync", "interval"); d != 120*time.Second {
			t.Errorf("after a forced apply, spec.sync.interval is %s, want 2m", d)
		}
	})
	t.Run("packagerevision", func(t *testing.T) {
		out := s.kubectl(t, "apply", "--server-side", "-f", writeFile(t, "draft.yaml", draftYAML("ssa", "v1", "tier=silver")))
		if want := "packagerevision.pkg.pkgserver.dev/blueprints.ssa.v1 serverside-applied\n"; out != want {
			t.Errorf("printed %q, want %q", out, want)
		}
		s.checkDraftLabels(t, "ssa", "v1", map[string]string{"tier": "silver"})
		s.kubectl(t, "apply", "--server-side", "-f", writeFile(t, "draft2.yaml", draftYAML("ssa", "v1", "tier=gold")))
		s.checkDraftLabels(t, "ssa", "v1", map[string]string{"tier": "gold"})
	})
}

func testDiff(t *testing.T, s *server) {
	t.Run("repository", func(t *testing.T) {
		s.newRepo(t, hostedRepo("diffed", "60s"))
		before := s.state(t, "blueprints")
		r := s.run(t, nil, "", "diff", "-f", writeFile(t, "repo.yaml", repoYAML("diffed", "90s")))
		if r.code != 1 {
			t.Errorf("kubectl diff of a changed object exits %d, want 1", r.code)
		}
		if !hasDiffLine(r.stdout, "-", "interval:") || !hasDiffLine(r.stdout, "+", "interval:") {
			t.Errorf("the diff shows no change of the interval:\n%s", r.stdout)
		}
		s.unchanged(t, "blueprints", before)
		r = s.run(t, nil, "", "diff", "-f", writeFile(t, "same.yaml", repoYAML("diffed", "60s")))
		if r.code != 0 || r.stdout != "" {
			t.Errorf("kubectl diff of an unchanged object exits %d and prints %q, want 0 and nothing", r.code, r.stdout)
		}
	})
	t.Run("packagerevision", func(t *testing.T) {
		s.newDraft(t, "blueprints", "diffed", "v1", map[string]string{"tier": "silver"})
		before := s.state(t, "blueprints")
		r := s.run(t, nil, "", "diff", "-f", writeFile(t, "draft.yaml", draftYAML("diffed", "v1", "tier=gold")))
		if r.code != 1 {
			t.Errorf("kubectl diff of a changed object exits %d, want 1", r.code)
		}
		if !hasDiffLine(r.stdout, "-", "tier: silver") || !hasDiffLine(r.stdout, "+", "tier: gold") {
			t.Errorf("the diff shows no change of the label:\n%s", r.stdout)
		}
		s.unchanged(t, "blueprints", before)
	})
}

// hasDiffLine reports whether a unified diff has a line starting with sign
// holding text.
func hasDiffLine(diff, sign, text string) bool {
	for _, line := range strings.Split(diff, "\n") {
		if strings.HasPrefix(line, sign) && !strings.HasPrefix(line, sign+sign+sign) && strings.Contains(line, text) {
			return true
		}
	}
	return false
}

func testEdit(t *testing.T, s *server) {
	// The editor kubectl starts: sed, with the expression of $E2E_SED.
	editor := writeFile(t, "editor.sh", "#!/bin/sh\nexec sed -i \"$E2E_SED\" \"$1\"\n")
	if err := exec.Command("chmod", "+x", editor).Run(); err != nil {
		t.Fatal(err)
	}
	edit := func(t *testing.T, sed string, args ...string) string {
		t.Helper()
		r := s.run(t, []string{"EDITOR=" + editor, "E2E_SED=" + sed}, "", append([]string{"edit"}, args...)...)
		if r.code != 0 {
			t.Fatalf("kubectl edit failed:\n%s", r)
		}
		return r.stdout
	}
	t.Run("repository", func(t *testing.T) {
		s.newRepo(t, hostedRepo("edited", "60s"))
		out := edit(t, `s/interval: .*/interval: 2m0s/`, "repository/edited")
		if want := "repository.config.pkg.pkgserver.dev/edited edited\n"; out != want {
			t.Errorf("printed %q, want %q", out, want)
		}
		obj := s.mustDo(t, 200, "GET", reposPath+"/edited", nil)
		if d := durationOf(t, obj, "spec", "sync", "interval"); d != 2*time.Minute {
			t.Errorf("spec.sync.interval is %s, want 2m", d)
		}
	})
	t.Run("packagerevision", func(t *testing.T) {
		name := s.newDraft(t, "blueprints", "edited", "v1", map[string]string{"tier": "silver"})
		out := edit(t, `s/tier: silver/tier: platinum/`, "packagerevision/"+name)
		if want := "packagerevision.pkg.pkgserver.dev/" + name + " edited\n"; out != want {
			t.Errorf("printed %q, want %q", out, want)
		}
		s.checkDraftLabels(t, "edited", "v1", map[string]string{"tier": "platinum"})
	})
}

func testLabel(t *testing.T, s *server) {
	t.Run("packagerevision", func(t *testing.T) {
		name := s.newDraft(t, "blueprints", "labelled", "v1", nil)
		out := s.kubectl(t, "label", "packagerevision", name, "tier=bronze")
		if want := "packagerevision.pkg.pkgserver.dev/" + name + " labeled\n"; out != want {
			t.Errorf("printed %q, want %q", out, want)
		}
		s.checkDraftLabels(t, "labelled", "v1", map[string]string{"tier": "bronze"})
		if out := s.kubectl(t, "get", "pr", "-l", "tier=bronze", "-o", "name"); out != "packagerevision.pkg.pkgserver.dev/"+name+"\n" {
			t.Errorf("get -l tier=bronze: %q", out)
		}
		s.kubectl(t, "label", "packagerevision", name, "tier=gold", "--overwrite")
		s.checkDraftLabels(t, "labelled", "v1", map[string]string{"tier": "gold"})
		s.kubectl(t, "label", "packagerevision", name, "tier-")
		s.checkDraftLabels(t, "labelled", "v1", map[string]string{})
	})
	t.Run("published packagerevision", func(t *testing.T) {
		// A published revision's labels are its Kptfile's at its tag: they
		// cannot change, and the refusal changes nothing.
		before := s.state(t, "blueprints")
		s.kubectlFails(t, []string{"Published"}, "label", "packagerevision", "blueprints.nginx.first", "extra=x")
		s.unchanged(t, "blueprints", before)
	})
	t.Run("repository", func(t *testing.T) {
		s.newRepo(t, hostedRepo("labelled", "60s"))
		s.kubectl(t, "label", "repository", "labelled", "team=labelled")
		obj := s.mustDo(t, 200, "GET", reposPath+"/labelled", nil)
		if str(obj, "metadata", "labels", "team") != "labelled" {
			t.Errorf("metadata.labels is %v", field(obj, "metadata", "labels"))
		}
		if out := s.kubectl(t, "get", "repositories", "-l", "team=labelled", "-o", "name"); out != "repository.config.pkg.pkgserver.dev/labelled\n" {
			t.Errorf("get repositories -l team=labelled: %q", out)
		}
	})
}

func testAnnotate(t *testing.T, s *server) {
	t.Run("packagerevision", func(t *testing.T) {
		name := s.newDraft(t, "blueprints", "annotated", "v1", nil)
		out := s.kubectl(t, "annotate", "packagerevision", name, "example.com/owner=ada")
		if want := "packagerevision.pkg.pkgserver.dev/" + name + " annotated\n"; out != want {
			t.Errorf("printed %q, want %q", out, want)
		}
		kpt := s.kptfile(t, "blueprints", draftRef("annotated", "v1"), "annotated")
		if got := str(kpt, "metadata", "annotations", "example.com/owner"); got != "ada" {
			t.Errorf("the Kptfile's annotation example.com/owner is %q, want ada: %v", got, field(kpt, "metadata"))
		}
		obj := s.mustDo(t, 200, "GET", revsPath+"/"+name, nil)
		if got := str(obj, "metadata", "annotations", "example.com/owner"); got != "ada" {
			t.Errorf("the API shows annotation example.com/owner %q, want ada", got)
		}
	})
	t.Run("repository", func(t *testing.T) {
		s.newRepo(t, hostedRepo("annotated", "60s"))
		s.kubectl(t, "annotate", "repository", "annotated", "example.com/owner=ada")
		obj := s.mustDo(t, 200, "GET", reposPath+"/annotated", nil)
		if got := str(obj, "metadata", "annotations", "example.com/owner"); got != "ada" {
			t.Errorf("annotation example.com/owner is %q, want ada", got)
		}
	})
}

func testPatch(t *testing.T, s *server) {
	t.Run("repository", func(t *testing.T) {
		s.newRepo(t, hostedRepo("patched", "60s"))
		interval := func() time.Duration {
			return durationOf(t, s.mustDo(t, 200, "GET", reposPath+"/patched", nil), "spec", "sync", "interval")
		}
		out := s.kubectl(t, "patch", "repository", "patched", "--type", "merge", "-p", `{"spec":{"sync":{"interval":"3m"}}}`)
		if want := "repository.config.pkg.pkgserver.dev/patched patched\n"; out != want {
			t.Errorf("printed %q, want %q", out, want)
		}
		if d := interval(); d != 3*time.Minute {
			t.Errorf("after a merge patch, spec.sync.interval is %s, want 3m", d)
		}
		s.kubectl(t, "patch", "repository", "patched", "--type", "json", "-p", `[{"op":"replace","path":"/spec/sync/interval","value":"4m"}]`)
		if d := interval(); d != 4*time.Minute {
			t.Errorf("after a JSON patch, spec.sync.interval is %s, want 4m", d)
		}
		before := s.state(t, "blueprints")
		// kubectl patch prints no "(server dry run)": its printer's
		// operation is set after the dry run's suffix.
		s.kubectl(t, "patch", "repository", "patched", "--type", "merge", "-p", `{"spec":{"sync":{"interval":"5m"}}}`, "--dry-run=server")
		s.unchanged(t, "blueprints", before)
		if d := interval(); d != 4*time.Minute {
			t.Errorf("after a dry run, spec.sync.interval is %s, want 4m", d)
		}
	})
	t.Run("packagerevision", func(t *testing.T) {
		name := s.newDraft(t, "blueprints", "patched", "v1", map[string]string{"tier": "silver"})
		s.kubectl(t, "patch", "packagerevision", name, "--type", "merge", "-p", `{"metadata":{"labels":{"env":"dev"}}}`)
		s.checkDraftLabels(t, "patched", "v1", map[string]string{"tier": "silver", "env": "dev"})
		s.kubectl(t, "patch", "packagerevision", name, "--type", "json", "-p", `[{"op":"add","path":"/metadata/labels/zone","value":"eu"}]`)
		s.checkDraftLabels(t, "patched", "v1", map[string]string{"tier": "silver", "env": "dev", "zone": "eu"})

		before := s.state(t, "blueprints")
		s.kubectl(t, "patch", "packagerevision", name, "--type", "json", "-p", `[{"op":"remove","path":"/metadata/labels/zone"}]`, "--dry-run=server")
		s.unchanged(t, "blueprints", before)
		// A JSON patch whose test fails is refused and changes nothing.
		s.kubectlFails(t, nil, "patch", "packagerevision", name, "--type", "json", "-p",
			`[{"op":"test","path":"/metadata/labels/tier","value":"gold"},{"op":"remove","path":"/metadata/labels/zone"}]`)
		s.unchanged(t, "blueprints", before)
	})
}
