package abuse

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// symlink makes a symbolic link at path (below the case's directory) to
// target, with its directories.
func (s *server) symlink(t *testing.T, target, path string) {
	t.Helper()
	full := filepath.Join(s.Dir, path)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, full); err != nil {
		t.Fatal(err)
	}
}

// TestSymlinkChainEscapes pushes a package whose link's text stays inside
// it but whose chain of links leads to /etc/passwd once checked out: a
// link eight directories down to the package root's parent, and a link
// through it. The push is refused with the link named, the repository is
// unchanged, and a package whose links stay inside (one through a link to
// a directory, one dangling) is still accepted.
func TestSymlinkChainEscapes(t *testing.T) {
	s := startServer(t)
	remote := s.Hosted(t, "blueprints")
	s.Must(t, "", "git", "clone", "-q", remote, "work")
	s.Must(t, "work", "git", "checkout", "-q", "-b", "drafts/pkg/v1")
	s.writeFile(t, "work/pkg/Kptfile", kptfile("pkg"))
	s.symlink(t, "../../../../../../../..", "work/pkg/a/b/c/d/e/f/g/h/up")
	s.symlink(t, "a/b/c/d/e/f/g/h/up/../../../../../../../../../etc/passwd", "work/pkg/passwd.yaml")
	s.Must(t, "work", "git", "add", ".")
	s.Must(t, "work", "git", "commit", "-qm", "Add pkg")
	// What a clone gets: the chain leads out of the checkout.
	if data, err := os.ReadFile(filepath.Join(s.Dir, "work/pkg/passwd.yaml")); err != nil || !strings.HasPrefix(string(data), "root:") {
		t.Fatalf("the chain does not lead to /etc/passwd in the checkout: %v %.20q", err, data)
	}
	before := s.Must(t, "work", "git", "ls-remote", "origin")

	_, errOut, err := s.Run("work", "git", "push", "origin", "drafts/pkg/v1")
	if err == nil {
		t.Fatalf("push of the chain accepted:\n%s", errOut)
	}
	want := `pkg/passwd.yaml: error: symlink points outside the package: "a/b/c/d/e/f/g/h/up/../../../../../../../../../etc/passwd", through the symlink a/b/c/d/e/f/g/h/up to "../../../../../../../.."`
	if !strings.Contains(errOut, want) {
		t.Errorf("push refused without naming the chain:\n%s\nwant %s", errOut, want)
	}
	if after := s.Must(t, "work", "git", "ls-remote", "origin"); after != before {
		t.Errorf("refs changed by a refused push:\nbefore %s\nafter %s", before, after)
	}
	code, _ := s.Do(t, "GET", "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions/blueprints.pkg.v1", nil)
	if code != http.StatusNotFound {
		t.Errorf("GET the refused draft: %d, want 404", code)
	}

	// Links that stay inside are accepted as before.
	s.Must(t, "work", "git", "rm", "-q", "pkg/passwd.yaml")
	s.writeFile(t, "work/pkg/x/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n")
	s.symlink(t, "x", "work/pkg/dir")
	s.symlink(t, "dir/cm.yaml", "work/pkg/cm.yaml")
	s.symlink(t, "a/b/c/d/e/f/g/h/up/pkg-other/x", "work/pkg/dangling")
	s.Must(t, "work", "git", "rm", "-q", "pkg/a/b/c/d/e/f/g/h/up")
	s.symlink(t, "../../../../../../..", "work/pkg/a/b/c/d/e/f/g/h/up")
	s.Must(t, "work", "git", "add", ".")
	s.Must(t, "work", "git", "commit", "-qm", "Links inside")
	s.Must(t, "work", "git", "push", "-q", "origin", "drafts/pkg/v1")
	code, body := s.Do(t, "GET", "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions/blueprints.pkg.v1", nil)
	if code != http.StatusOK {
		t.Errorf("GET the draft with links inside: %d %s", code, body)
	}
}
