package abuse

import (
	"bytes"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// revisionPath is the API path of a package revision of the blueprints
// repository.
func revisionPath(name string) string {
	return "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions/blueprints." + name
}

// seedNginx makes a hosted repository blueprints whose main holds the
// package nginx, published as nginx/v1, and a clone of it in work.
func seedNginx(t *testing.T, s *server) {
	t.Helper()
	remote := s.Hosted(t, "blueprints")
	s.Must(t, "", "git", "clone", "-q", remote, "work")
	s.writeFile(t, "work/nginx/Kptfile", kptfile("nginx"))
	s.writeFile(t, "work/nginx/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nginx\ndata:\n  a: b\n")
	s.Must(t, "work", "git", "add", ".")
	s.Must(t, "work", "git", "commit", "-qm", "Add nginx")
	s.Must(t, "work", "git", "tag", "nginx/v1")
	s.Must(t, "work", "git", "push", "-q", "origin", "HEAD:refs/heads/main", "nginx/v1")
	if code, body := s.Do(t, "GET", revisionPath("nginx.v1"), nil); code != http.StatusOK {
		t.Fatalf("GET nginx v1: %d %s", code, body)
	}
}

// draftCommit commits an edit of nginx on a new local branch.
func draftCommit(t *testing.T, s *server, branch, value string) {
	t.Helper()
	s.Must(t, "work", "git", "checkout", "-q", "-b", branch, "main")
	s.writeFile(t, "work/nginx/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nginx\ndata:\n  a: "+value+"\n")
	s.Must(t, "work", "git", "commit", "-qam", "Edit nginx: "+value)
}

// TestPushAcceptedMeansVisible pushes refs the index would not make
// revisions of — a draft named like a published revision, a draft beside
// a proposal of its workspace, a tag that reads as a revision but is not
// one — each refused with the reason and nothing changed, while a push of
// a draft with a workspace of its own is accepted and is a Draft in the
// API when the push returns.
func TestPushAcceptedMeansVisible(t *testing.T) {
	s := startServer(t)
	seedNginx(t, s)
	s.Must(t, "work", "git", "checkout", "-q", "-b", "proposed/nginx/w9", "main")
	s.Must(t, "work", "git", "push", "-q", "origin", "proposed/nginx/w9")
	if code, body := s.Do(t, "GET", revisionPath("nginx.w9"), nil); code != http.StatusOK || !bytes.Contains(body, []byte(`"lifecycle":"Proposed"`)) {
		t.Fatalf("GET the proposal: %d %s", code, body)
	}

	for _, tt := range []struct {
		branch, push, want string
	}{
		{"drafts/nginx/v1", "drafts/nginx/v1", `refused refs/heads/drafts/nginx/v1: workspace "v1" of package nginx is already used by refs/tags/nginx/v1`},
		{"drafts/nginx/w9", "drafts/nginx/w9", `refused refs/heads/drafts/nginx/w9: workspace "w9" of package nginx is already used by refs/heads/proposed/nginx/w9`},
		{"release", "release:refs/tags/nginx/v01", `refused refs/tags/nginx/v01: a package tag's revision is v<N>, N a positive integer without leading zeros, not "v01"`},
	} {
		t.Run(tt.push, func(t *testing.T) {
			draftCommit(t, s, tt.branch, tt.branch)
			before := s.Must(t, "work", "git", "ls-remote", "origin")
			_, errOut, err := s.Run("work", "git", "push", "origin", tt.push)
			if err == nil {
				t.Fatalf("push accepted:\n%s", errOut)
			}
			if !strings.Contains(errOut, tt.want) {
				t.Errorf("push refused without the reason:\n%s\nwant %s", errOut, tt.want)
			}
			if strings.Contains(errOut, "pkgserver: indexed") {
				t.Errorf("a refused push says it was indexed:\n%s", errOut)
			}
			if after := s.Must(t, "work", "git", "ls-remote", "origin"); after != before {
				t.Errorf("refs changed by a refused push:\nbefore %s\nafter %s", before, after)
			}
		})
	}

	draftCommit(t, s, "drafts/nginx/w10", "w10")
	_, errOut, err := s.Run("work", "git", "push", "origin", "drafts/nginx/w10")
	if err != nil || !strings.Contains(errOut, "pkgserver: indexed") {
		t.Fatalf("push of a draft of its own workspace: %v\n%s", err, errOut)
	}
	if code, body := s.Do(t, "GET", revisionPath("nginx.w10"), nil); code != http.StatusOK || !bytes.Contains(body, []byte(`"lifecycle":"Draft"`)) {
		t.Fatalf("GET the draft: %d %s", code, body)
	}
}

// TestPushManyRefs pushes a thousand drafts, each on a commit of its own,
// in one push, and a one-ref push to the same repository started once the
// large one is under way on the server (git has made its quarantine, where
// the objects of a push wait for the decision): both are accepted, and
// every draft is in the API.
func TestPushManyRefs(t *testing.T) {
	const n = 1000
	s := startServer(t)
	seedNginx(t, s)
	main := strings.TrimSpace(s.Must(t, "work", "git", "rev-parse", "main"))
	var in strings.Builder
	for i := range n {
		msg := fmt.Sprintf("draft %d\n", i)
		fmt.Fprintf(&in, "commit refs/heads/drafts/nginx/m%d\ncommitter C <c@example.com> 1767268800 +0000\ndata %d\n%sfrom %s\n\n", i, len(msg), msg, main)
	}
	s.writeFile(t, "import", in.String())
	s.Must(t, "work", "sh", "-c", "git fast-import --quiet < ../import")
	s.Must(t, "", "git", "clone", "-q", s.GitURL("blueprints", s.Token), "other")
	s.Must(t, "other", "git", "checkout", "-q", "-b", "drafts/nginx/beside")

	var wg sync.WaitGroup
	var bigErr error
	var bigOut string
	bigDone := make(chan struct{})
	wg.Go(func() {
		defer close(bigDone)
		_, bigOut, bigErr = s.Run("work", "git", "push", "origin", "refs/heads/drafts/*:refs/heads/drafts/*")
	})
	objects := filepath.Join(s.Data, "repos", "default", "blueprints.git", "objects")
wait:
	for {
		if m, _ := filepath.Glob(filepath.Join(objects, "tmp_objdir-incoming-*")); len(m) > 0 {
			break
		}
		select {
		case <-bigDone:
			t.Error("the large push ended before its quarantine was seen: the pushes did not overlap")
			break wait
		case <-time.After(2 * time.Millisecond):
		}
	}
	_, smallOut, smallErr := s.Run("other", "git", "push", "origin", "drafts/nginx/beside")
	wg.Wait()
	if bigErr != nil || !strings.Contains(bigOut, "pkgserver: indexed") {
		t.Fatalf("push of %d drafts: %v\n%s", n, bigErr, bigOut)
	}
	if smallErr != nil || !strings.Contains(smallOut, "pkgserver: indexed") {
		t.Fatalf("push beside it: %v\n%s", smallErr, smallOut)
	}
	for _, name := range []string{"nginx.m0", fmt.Sprintf("nginx.m%d", n-1), "nginx.beside"} {
		if code, body := s.Do(t, "GET", revisionPath(name), nil); code != http.StatusOK || !bytes.Contains(body, []byte(`"lifecycle":"Draft"`)) {
			t.Errorf("GET %s: %d %s", name, code, body)
		}
	}
}
