package abuse

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// smallPostBuffer is the least http.postBuffer git takes (a large packet,
// 65520 bytes, rounded up): a request body beyond it is sent chunked, as a
// push of 10,000 refs (1.1 MB of commands) is with git's default of 1 MiB.
const smallPostBuffer = "http.postBuffer=65536"

// importDrafts makes n drafts of nginx in work's clone, each on a commit
// of its own on main, with git fast-import.
func importDrafts(t *testing.T, s *server, n int) {
	t.Helper()
	main := strings.TrimSpace(s.Must(t, "work", "git", "rev-parse", "main"))
	var in strings.Builder
	for i := range n {
		msg := fmt.Sprintf("draft %d\n", i)
		fmt.Fprintf(&in, "commit refs/heads/drafts/nginx/c%d\ncommitter C <c@example.com> 1767268800 +0000\ndata %d\n%sfrom %s\n\n", i, len(msg), msg, main)
	}
	s.writeFile(t, "import", in.String())
	s.Must(t, "work", "sh", "-c", "git fast-import --quiet < ../import")
}

// countRefs counts the refs of the repository in dir under prefix.
func countRefs(t *testing.T, s *server, dir, prefix string) int {
	t.Helper()
	return strings.Count(s.Must(t, dir, "git", "for-each-ref", "--format=%(refname)", prefix), "\n")
}

// TestHTTPChunkedRequests pushes over smart HTTP a request body larger
// than the client's http.postBuffer, which git sends chunked — a thousand
// drafts in one push (112 KB of commands) — then clones and fetches every
// ref over HTTP the same way and with git's defaults (a fetch's request
// gzipped): each is served, not answered 400, and every draft is in the
// API.
func TestHTTPChunkedRequests(t *testing.T) {
	const n = 1000
	s := startServer(t)
	seedNginx(t, s)
	importDrafts(t, s, n)

	_, errOut, err := s.Run("work", "git", "-c", smallPostBuffer, "push", "origin", "refs/heads/drafts/*:refs/heads/drafts/*")
	if err != nil || !strings.Contains(errOut, "pkgserver: indexed") {
		t.Fatalf("push of %d drafts, chunked: %v\n%s", n, err, errOut)
	}
	for _, name := range []string{"nginx.c0", fmt.Sprintf("nginx.c%d", n-1)} {
		if code, body := s.Do(t, "GET", revisionPath(name), nil); code != http.StatusOK || !bytes.Contains(body, []byte(`"lifecycle":"Draft"`)) {
			t.Errorf("GET %s: %d %s", name, code, body)
		}
	}

	remote := s.GitURL("blueprints", s.Token)
	for _, tt := range []struct {
		name   string
		config []string
	}{
		{"chunked", []string{"-c", smallPostBuffer}},
		{"defaults", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mirror := "mirror-" + tt.name
			s.Must(t, "", "git", append(tt.config, "clone", "-q", "--mirror", remote, mirror)...)
			if got := countRefs(t, s, mirror, "refs/heads/drafts/"); got != n {
				t.Errorf("clone has %d drafts, want %d", got, n)
			}
			fetched := "fetched-" + tt.name
			s.Must(t, "", "git", "init", "-q", fetched)
			s.Must(t, fetched, "git", append(tt.config, "fetch", "-q", remote, "refs/heads/*:refs/remotes/origin/*")...)
			if got := countRefs(t, s, fetched, "refs/remotes/origin/drafts/"); got != n {
				t.Errorf("fetch has %d drafts, want %d", got, n)
			}
		})
	}
}
