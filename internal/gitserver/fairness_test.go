package gitserver_test

import (
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/pkgserver/pkgserver/internal/gitserver"
	"github.com/pkgserver/pkgserver/internal/store"
)

// TestHTTPRequestWithoutProgress: a smart HTTP request whose body stops
// arriving is ended after the idle limit, not the hour a request may last,
// and its slot is given back.
func TestHTTPRequestWithoutProgress(t *testing.T) {
	h := startHost(t, options{limits: gitserver.Limits{IdleSeconds: 1}})
	h.hosted("catalog")
	tok := h.token("slow", "default", store.RoleRead)
	auth := base64.StdEncoding.EncodeToString([]byte("git:" + tok))
	var conns []net.Conn
	for range gitserver.MaxHTTPRequestsPerToken {
		c, err := net.Dial("tcp", h.httpAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /git/default/catalog.git/git-upload-pack HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\n"+
			"Content-Type: application/x-git-upload-pack-request\r\nContent-Length: 1000\r\n\r\n0032want ", auth)
		conns = append(conns, c)
	}
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Fatalf("request %d was not ended: %v", i, err)
		}
	}
	// The token's slots are free again: it clones.
	work := t.TempDir()
	h.mustGit(nil, work, "clone", "-q", "http://git:"+tok+"@"+h.httpAddr+"/git/default/catalog.git", "w")
}
