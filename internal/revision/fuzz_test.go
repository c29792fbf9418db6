package revision

import (
	"os/exec"
	"strings"
	"testing"
)

// FuzzParseRef reads arbitrary ref names, as pushes and remote
// repositories send them, with Porch's layout under a repository
// directory: no name panics; every name accepted as a ref of the contract
// comes back from RefName unchanged, with a package path of labels, a
// workspace that is a label and a revision number that is v<N>; and the
// names accepted for drafts, proposals and deletion proposals are names
// git accepts (git check-ref-format).
func FuzzParseRef(f *testing.F) {
	for _, seed := range []struct{ dir, branch, name string }{
		{"", "main", "refs/heads/drafts/nginx/ws1"},
		{"", "main", "refs/heads/proposed/network/vpc/v2"},
		{"", "main", "refs/heads/deletionProposed/nginx/v3"},
		{"", "main", "refs/tags/nginx/v1"},
		{"", "main", "refs/tags/nginx/v1.2.0"},
		{"", "main", "refs/tags/nginx/v01"},
		{"", "main", "refs/tags/release"},
		{"", "main", "refs/heads/main"},
		{"", "main", "refs/heads/feature/x"},
		{"blueprints", "main", "refs/heads/drafts/blueprints/network/vpc/ws"},
		{"blueprints/", "release", "refs/tags/blueprints/app/v12"},
		{"blueprints", "main", "refs/tags/other/app/v1"},
		{"", "main", "refs/heads/drafts/nginx/WS"},
		{"", "main", "refs/heads/drafts//nginx/ws"},
		{"", "main", "refs/heads/drafts/nginx"},
		{"", "main", "refs/heads/deletionProposed/nginx/v0"},
		{"", "main", "refs/heads/drafts/a\\b/ws"},
		{"", "main", "refs/heads/drafts/n.lock/ws"},
	} {
		f.Add(seed.dir, seed.branch, seed.name)
	}
	f.Fuzz(func(t *testing.T, dir, branch, name string) {
		cfg := Config{Repository: "r", Directory: dir, Branch: branch}
		src, ok, err := cfg.ParseRef(name)
		if !ok || err != nil {
			return
		}
		if got := cfg.RefName(src); got != name {
			t.Fatalf("ParseRef(%q) = %+v, whose RefName is %q", name, src, got)
		}
		if src.Ref != name {
			t.Fatalf("ParseRef(%q).Ref = %q", name, src.Ref)
		}
		if src.Kind == KindBranch {
			if !IsLabel(src.Workspace) {
				t.Fatalf("branch %q gives workspace %q", branch, src.Workspace)
			}
			return
		}
		if err := ValidatePackagePath(src.Package); err != nil {
			t.Fatalf("ParseRef(%q) accepted package %q: %v", name, src.Package, err)
		}
		switch src.Kind {
		case KindDraft, KindProposed:
			if !IsLabel(src.Workspace) {
				t.Fatalf("ParseRef(%q) accepted workspace %q", name, src.Workspace)
			}
		case KindDeletionProposed:
			if src.Number < 1 || FormatRevision(src.Number) != src.Revision {
				t.Fatalf("ParseRef(%q) = revision %q, number %d", name, src.Revision, src.Number)
			}
		case KindTag:
			if src.Number > 0 && FormatRevision(src.Number) != src.Revision {
				t.Fatalf("ParseRef(%q) = revision %q, number %d", name, src.Revision, src.Number)
			}
			if src.Number > 0 && LooksLikeRevision(src.Revision) {
				t.Fatalf("%q is a revision and looks like one that is not", src.Revision)
			}
			return // a tag's last segment is git's to judge
		}
		// The directory is the registration's, checked when it is made:
		// the property holds for directories of labels.
		if d := strings.Trim(dir, "/"); (d == "" || ValidatePackagePath(d) == nil) && !gitAccepts(t, name) {
			t.Fatalf("ParseRef accepted %q, which git refuses", name)
		}
	})
}

// gitAccepts tells whether git accepts a full ref name.
func gitAccepts(t *testing.T, name string) bool {
	err := exec.Command("git", "check-ref-format", name).Run()
	if _, exit := err.(*exec.ExitError); err != nil && !exit {
		t.Skipf("git check-ref-format: %v", err)
	}
	return err == nil
}
