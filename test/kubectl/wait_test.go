package e2e

import "testing"

// testWaitRepository waits for conditions of one repository among others.
func testWaitRepository(t *testing.T, s *server) {
	// A repository that never gets Ready, beside blueprints that is: waiting
	// for it must not be satisfied by blueprints.
	body := map[string]any{
		"apiVersion": "config.pkg.pkgserver.dev/v1alpha1",
		"kind":       "Repository",
		"metadata":   map[string]any{"name": "unreachable", "namespace": "default"},
		"spec":       map[string]any{"type": "git", "provider": "git", "git": map[string]any{"url": "https://127.0.0.1:1/none.git"}},
	}
	s.mustDo(t, 201, "POST", reposPath, body)
	out := s.kubectl(t, "wait", "--for=condition=Ready=False", "repository/unreachable", "--timeout=60s")
	if want := "repository.config.pkg.pkgserver.dev/unreachable condition met\n"; out != want {
		t.Errorf("printed %q, want %q", out, want)
	}
	s.kubectlFails(t, []string{"timed out"}, "wait", "--for=condition=Ready", "repository/unreachable", "--timeout=5s")
	out = s.kubectl(t, "wait", "--for=condition=Ready", "repository/blueprints", "--timeout=60s")
	if want := "repository.config.pkg.pkgserver.dev/blueprints condition met\n"; out != want {
		t.Errorf("printed %q, want %q", out, want)
	}
}

// testWaitRevision waits for one package revision among others: for a
// field's value, and for its deletion.
func testWaitRevision(t *testing.T, s *server) {
	published := "--for=jsonpath={.spec.lifecycle}=Published"
	out := s.kubectl(t, "wait", published, "packagerevision/blueprints.nginx.first", "--timeout=60s")
	if want := "packagerevision.pkg.pkgserver.dev/blueprints.nginx.first condition met\n"; out != want {
		t.Errorf("printed %q, want %q", out, want)
	}
	// A Draft beside the published revision: waiting for it to be published
	// must not be satisfied by blueprints.nginx.first.
	name := s.newDraft(t, "blueprints", "waited", "v1", nil)
	s.kubectlFails(t, []string{"timed out"}, "wait", published, "packagerevision/"+name, "--timeout=5s")

	// Waits that the change they wait for ends. At -v=6 kubectl logs its
	// requests: the change is made once its watch of the one revision
	// (fieldSelector metadata.name) is open, so the watch must deliver it.
	watching := "fieldSelector=metadata.name%3D" + name
	w := s.start(t, "wait", "--for=jsonpath={.spec.lifecycle}=Proposed", "packagerevision/"+name, "--timeout=60s", "-v=6")
	w.waitStderr(t, watching, "watch=true")
	s.setLifecycle(t, name, "Proposed", false)
	w.waitLine(t, "condition met", func(l string) bool { return l == "packagerevision.pkg.pkgserver.dev/"+name+" condition met" })
	if <-w.done; w.err != nil {
		t.Errorf("kubectl wait for Proposed: %v\n%s", w.err, w)
	}
	w = s.start(t, "wait", "--for=delete", "packagerevision/"+name, "--timeout=60s", "-v=6")
	w.waitStderr(t, watching, "watch=true")
	s.mustDo(t, 200, "DELETE", revsPath+"/"+name, nil)
	w.waitLine(t, "condition met", func(l string) bool { return l == "packagerevision.pkg.pkgserver.dev/"+name+" condition met" })
	if <-w.done; w.err != nil {
		t.Errorf("kubectl wait --for=delete: %v\n%s", w.err, w)
	}
}
