package gitserver_test

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/gitserver"
)

// TestSmartHTTPChunkedBodies: git sends a request body chunked once it
// outgrows http.postBuffer (a push of a large pack or of thousands of refs,
// a fetch of as many); such requests are served like any other, gzipped or
// not, and not answered 400.
func TestSmartHTTPChunkedBodies(t *testing.T) {
	h := startHost(t, options{})
	h.hosted("catalog")
	base := "http://" + h.httpAddr + gitserver.HTTPPrefix + "default/catalog.git"
	url := strings.Replace(base, "http://", "http://admin:"+h.admin+"@", 1)

	// A pack of some 200 KB, beyond the least postBuffer git takes.
	work := t.TempDir()
	h.mustGit(nil, work, "clone", "-q", url, "w")
	w := filepath.Join(work, "w")
	writeFiles(t, w, gittest.Package("nginx", "1"))
	noise := make([]byte, 150<<10)
	rand.Read(noise)
	writeFiles(t, w, map[string]string{"nginx/noise.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: noise\ndata:\n  noise: " + hex.EncodeToString(noise) + "\n"})
	h.mustGit(nil, w, "add", ".")
	h.mustGit(nil, w, "commit", "-qm", "nginx")
	out := h.mustGit(nil, w, "-c", "http.postBuffer=65536", "push", "origin", "HEAD:refs/heads/drafts/nginx/first")
	if !strings.Contains(out, "pkgserver: indexed default/catalog") {
		t.Fatalf("chunked push over HTTP:\n%s", out)
	}
	h.mustGit(nil, work, "-c", "http.postBuffer=65536", "clone", "-q", url, "again")
	if got, want := h.mustGit(nil, filepath.Join(work, "again"), "rev-parse", "origin/drafts/nginx/first"), h.mustGit(nil, w, "rev-parse", "HEAD"); got != want {
		t.Errorf("chunked clone has the draft at %s, want %s", got, want)
	}

	// Chunked upload-pack requests of git's protocol v0, plain and
	// gzipped, each wanting the draft: the answer is its pack.
	commit := strings.TrimSpace(h.mustGit(nil, w, "rev-parse", "HEAD"))
	want := "want " + commit + " no-progress\n"
	request := fmt.Sprintf("%04x%s0000%04x%s", len(want)+4, want, len("done\n")+4, "done\n")
	var gzipped bytes.Buffer
	zw := gzip.NewWriter(&gzipped)
	zw.Write([]byte(request))
	zw.Close()
	for _, tc := range []struct {
		name, encoding string
		body           []byte
	}{
		{"plain", "", []byte(request)},
		{"gzip", "gzip", gzipped.Bytes()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, base+"/git-upload-pack", io.MultiReader(bytes.NewReader(tc.body)))
			if err != nil {
				t.Fatal(err)
			}
			// An unknown length: the client sends the body chunked.
			req.ContentLength = -1
			req.SetBasicAuth("admin", h.admin)
			req.Header.Set("Content-Type", "application/x-git-upload-pack-request")
			if tc.encoding != "" {
				req.Header.Set("Content-Encoding", tc.encoding)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || !bytes.HasPrefix(body, []byte("0008NAK\nPACK")) {
				t.Errorf("chunked upload-pack request: %d %q", resp.StatusCode, body[:min(len(body), 200)])
			}
		})
	}
}

// TestSmartHTTPChunkedPushLimit: a push sent chunked is held to the pushed
// pack's limit as one of known length is: refused, nothing updated, and
// the repository still takes a push within it.
func TestSmartHTTPChunkedPushLimit(t *testing.T) {
	h := startHost(t, options{limits: gitserver.Limits{MaxPushBytes: 100 << 10, IdleSeconds: 120}})
	h.hosted("catalog")
	url := "http://admin:" + h.admin + "@" + h.httpAddr + gitserver.HTTPPrefix + "default/catalog.git"
	work := t.TempDir()
	h.mustGit(nil, work, "clone", "-q", url, "w")
	w := filepath.Join(work, "w")
	writeFiles(t, w, gittest.Package("nginx", "1"))
	h.mustGit(nil, w, "add", ".")
	h.mustGit(nil, w, "commit", "-qm", "nginx")
	h.mustGit(nil, w, "checkout", "-q", "-b", "big")
	noise := make([]byte, 150<<10)
	rand.Read(noise)
	writeFiles(t, w, map[string]string{"nginx/noise.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: noise\ndata:\n  noise: " + hex.EncodeToString(noise) + "\n"})
	h.mustGit(nil, w, "add", ".")
	h.mustGit(nil, w, "commit", "-qm", "noise")

	out, err := h.git(nil, w, "-c", "http.postBuffer=65536", "push", "origin", "big:refs/heads/drafts/nginx/big")
	if err == nil || !strings.Contains(out, "pack exceeds maximum allowed size") {
		t.Fatalf("a chunked push of a pack beyond the limit, not refused as too big (%v):\n%s", err, out)
	}
	if refs := h.mustGit(nil, w, "ls-remote", "origin"); strings.Contains(refs, "drafts/nginx/big") {
		t.Errorf("a refused push updated refs:\n%s", refs)
	}
	out = h.mustGit(nil, w, "-c", "http.postBuffer=65536", "push", "origin", "HEAD~1:refs/heads/drafts/nginx/small")
	if !strings.Contains(out, "pkgserver: indexed default/catalog") {
		t.Errorf("push within the limit after a refused one:\n%s", out)
	}
}
