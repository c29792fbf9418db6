package gitserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/auth"
	"github.com/pkgserver/pkgserver/internal/store"
)

// Store is what the git host reads and writes of the index: the
// repositories pushed to, and the validations of what pushes bring.
type Store interface {
	store.Repositories
	store.Validations
}

// Host is what the SSH and HTTP front ends share: where repositories are,
// who may use them, and how hooks reach back.
type Host struct {
	Store   Store
	Hosting *Hosting
	Pushes  *Pushes
	Keys    *auth.KeyAuthenticator
	Tokens  *auth.Authenticator
	Limits  Limits
	Log     *slog.Logger
	// HookURL is the base URL hooks post to (the HTTP API's address).
	HookURL string
	// PreReceiveTimeout bounds a push's pre-receive: waiting for other
	// pushes to the repository, then deciding (0: the package's
	// PreReceiveTimeout).
	PreReceiveTimeout time.Duration

	maintOnce sync.Once
	maint     *maintenance
}

// upkeep asks for the upkeep of a repository after a push.
func (h *Host) upkeep(gitDir string) {
	h.maintOnce.Do(func() { h.maint = newMaintenance() })
	h.maint.request(gitDir)
}

// errNotFound is answered for a repository that is not there or that the
// client may not read: the two are not told apart.
var errNotFound = errors.New("repository not found")

// parseRepoPath reads "<namespace>/<name>.git" (leading and trailing
// slashes allowed, ".git" optional) and checks both names.
func parseRepoPath(p string) (namespace, name string, err error) {
	p = strings.Trim(p, "/")
	p = strings.TrimSuffix(p, ".git")
	ns, n, ok := strings.Cut(p, "/")
	if !ok || strings.Contains(n, "/") {
		return "", "", fmt.Errorf("repository path %q: want <namespace>/<name>.git", p)
	}
	for _, s := range []string{ns, n} {
		if errs := validation.IsDNS1123Label(s); len(errs) > 0 {
			return "", "", fmt.Errorf("repository path %q: %q is not a valid name", p, s)
		}
	}
	return ns, n, nil
}

// resolve returns the git directory of a hosted repository: one the index
// holds with provider hosted, at the path pkgserver computes itself.
func (h *Host) resolve(ctx context.Context, namespace, name string) (string, error) {
	repo, err := h.Store.GetRepository(ctx, namespace, name)
	if errors.Is(err, store.ErrNotFound) {
		return "", errNotFound
	}
	if err != nil {
		return "", err
	}
	if repo.Object.Spec.Provider != configv1alpha1.ProviderHosted {
		return "", errNotFound
	}
	dir := h.Hosting.Path(namespace, name)
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err != nil {
		h.Log.Error("hosted repository missing on disk", "repo", namespace+"/"+name, "dir", dir)
		return "", errNotFound
	}
	return dir, nil
}

// allowed applies a grant to a namespace, as tokens' grants are applied.
func allowed(p Pusher, namespace string, need store.Role) bool {
	return auth.Allowed(&store.Token{Namespace: p.Namespace, Role: p.Role}, namespace, need)
}
