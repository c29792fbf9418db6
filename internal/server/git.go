package server

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/gitserver"
)

// HookBinary is the small hook program looked for beside the pkgserver
// binary; without it, hooks run `pkgserver hook`, which starts slower.
const HookBinary = "pkgserver-hook"

// DefaultHookCommand is what hosted repositories' hooks run.
func DefaultHookCommand() ([]string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if self, err = filepath.EvalSymlinks(self); err != nil {
		return nil, err
	}
	small := filepath.Join(filepath.Dir(self), HookBinary)
	if info, err := os.Stat(small); err == nil && info.Mode().IsRegular() && info.Mode()&0o111 != 0 {
		return []string{small}, nil
	}
	return []string{self, "hook", "--forward"}, nil
}

// hostedRepos is the API's view of the git host: it creates repositories
// and knows their URLs once the listeners are open.
type hostedRepos struct {
	hosting *gitserver.Hosting

	mu       sync.RWMutex
	sshBase  string // ssh://git@host:port
	httpBase string // http://host:port or https://host:port
}

func (h *hostedRepos) Create(ctx context.Context, namespace, name, branch string) error {
	return h.hosting.Create(ctx, namespace, name, branch)
}

func (h *hostedRepos) CloneURLs(namespace, name string) configv1alpha1.CloneURLs {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var u configv1alpha1.CloneURLs
	if h.sshBase != "" {
		u.SSH = fmt.Sprintf("%s/%s/%s.git", h.sshBase, namespace, name)
	}
	if h.httpBase != "" {
		u.HTTP = fmt.Sprintf("%s%s%s/%s.git", h.httpBase, gitserver.HTTPPrefix, namespace, name)
	}
	return u
}

// base is the server's advertised HTTP URL, "" before it listens.
func (h *hostedRepos) base() string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.httpBase
}

func (h *hostedRepos) listen(httpAddr, sshAddr net.Addr, tls bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if httpAddr != nil {
		scheme := "http://"
		if tls {
			scheme = "https://"
		}
		h.httpBase = scheme + advertised(httpAddr)
	}
	if sshAddr != nil {
		h.sshBase = "ssh://git@" + advertised(sshAddr)
	}
}

// advertised is how clients reach an address: a wildcard address is
// replaced by the machine's host name.
func advertised(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if name, err := os.Hostname(); err == nil && name != "" {
			host = name
		}
	}
	return net.JoinHostPort(host, port)
}

// loopback is how the server's own hooks reach an address.
func loopback(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1" // a wildcard listener of either family takes it
	}
	return net.JoinHostPort(host, port)
}
