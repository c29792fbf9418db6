package reconcile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// Source opens the git repository behind a registration, bringing it up to
// date first when it is a mirror.
type Source interface {
	Open(ctx context.Context, repo *store.Repository) (*gitrepo.Repo, error)
}

// CredentialsFunc returns the credentials a repository names, or nil.
type CredentialsFunc func(ctx context.Context, namespace, secret string) (*gitrepo.Credentials, error)

// GitSource reads local repositories in place and remote ones through
// mirrors kept below MirrorDir.
type GitSource struct {
	MirrorDir string
	// HostedDir holds the bare repositories of hosted Repositories, at
	// <HostedDir>/<namespace>/<name>.git.
	HostedDir   string
	Credentials CredentialsFunc
}

// localPath returns the path of a repository read in place: a hosted one,
// or one whose URL names a local directory.
func (s *GitSource) localPath(repo *store.Repository) (string, bool) {
	if repo.Object.Spec.Provider == configv1alpha1.ProviderHosted {
		if s.HostedDir == "" {
			return "", false
		}
		return filepath.Join(s.HostedDir, repo.Object.Namespace, repo.Object.Name+".git"), true
	}
	return LocalPath(repo.Object.Spec.Git.URL)
}

// Open returns the repository, fetching into its mirror when it is remote.
func (s *GitSource) Open(ctx context.Context, repo *store.Repository) (*gitrepo.Repo, error) {
	u := repo.Object.Spec.Git.URL
	if p, ok := s.localPath(repo); ok {
		return gitrepo.Open(p)
	}
	if repo.Object.Spec.Provider == configv1alpha1.ProviderHosted {
		// Never a mirror of an empty URL, which git reads as the
		// working directory.
		return nil, fmt.Errorf("repository %s/%s is hosted: its git is read from the server's data directory, which this source does not have",
			repo.Object.Namespace, repo.Object.Name)
	}
	creds, err := s.credentials(ctx, repo)
	if err != nil {
		return nil, err
	}
	return gitrepo.SyncMirror(ctx, s.mirrorPath(repo), u, creds)
}

// Local returns the repository as last fetched, without fetching: read in
// place, or its mirror.
func (s *GitSource) Local(_ context.Context, repo *store.Repository) (*gitrepo.Repo, error) {
	if p, ok := s.localPath(repo); ok {
		return gitrepo.Open(p)
	}
	return gitrepo.Open(s.mirrorPath(repo))
}

// Writable returns the git repository pkgserver writes a repository's
// revisions into, and how to publish ref updates there: nil for a hosted
// repository or one registered by local path (updated in place); for a
// remote one, its mirror (as last fetched: a write that finds the remote
// moved fails and is tried again after a sync) and an atomic push with
// the repository's credentials.
func (s *GitSource) Writable(ctx context.Context, repo *store.Repository) (*gitrepo.Repo, func(context.Context, []revision.RefUpdate) error, error) {
	if p, ok := s.localPath(repo); ok {
		g, err := gitrepo.Open(p)
		return g, nil, err
	}
	g, err := gitrepo.Open(s.mirrorPath(repo))
	if err != nil {
		return nil, nil, fmt.Errorf("%w (the repository was not fetched yet: %v)", ErrNotWritable, err)
	}
	creds, err := s.credentials(ctx, repo)
	if err != nil {
		return nil, nil, err
	}
	url := repo.Object.Spec.Git.URL
	return g, func(ctx context.Context, updates []revision.RefUpdate) error { return g.Push(ctx, url, creds, updates) }, nil
}

// ErrNotWritable is returned for repositories whose revisions pkgserver
// cannot write.
var ErrNotWritable = errors.New("the repository cannot be written")

func (s *GitSource) credentials(ctx context.Context, repo *store.Repository) (*gitrepo.Credentials, error) {
	name := repo.Object.Spec.Git.Credentials
	if name == "" {
		return nil, nil
	}
	if s.Credentials == nil {
		return nil, fmt.Errorf("repository %s/%s names credentials %q, but no credentials are available", repo.Object.Namespace, repo.Object.Name, name)
	}
	return s.Credentials(ctx, repo.Object.Namespace, name)
}

// mirrorPath is the mirror's directory: namespace and name are RFC 1123
// labels, and a digest of the URL keeps a changed URL from mixing objects
// of two repositories.
func (s *GitSource) mirrorPath(repo *store.Repository) string {
	sum := sha256.Sum256([]byte(gitrepo.SanitizeURL(repo.Object.Spec.Git.URL)))
	return filepath.Join(s.MirrorDir, repo.Object.Namespace, repo.Object.Name+"-"+hex.EncodeToString(sum[:6])+".git")
}

// LocalPath returns the path of a repository URL that names a local
// directory: an absolute or relative path, or a file:// URL.
func LocalPath(raw string) (string, bool) {
	if strings.HasPrefix(raw, "file://") {
		u, err := url.Parse(raw)
		if err != nil {
			return "", false
		}
		return u.Path, true
	}
	if strings.Contains(raw, "://") {
		return "", false
	}
	// scp-like SSH addresses: [user@]host:path, with no slash before the colon.
	if i := strings.IndexByte(raw, ':'); i > 0 && !strings.ContainsRune(raw[:i], '/') {
		return "", false
	}
	return raw, raw != ""
}

// RefsHash is a digest of a repository's refs: the XOR of a SHA-256 per
// ref and target. It does not depend on order, and is updated ref by ref,
// so an incremental update keeps it exact without listing every ref.
type RefsHash [sha256.Size]byte

// Toggle adds a ref to the digest or, given the same ref and target again,
// removes it.
func (h *RefsHash) Toggle(name, target string) {
	sum := sha256.Sum256([]byte(name + " " + target))
	for i := range h {
		h[i] ^= sum[i]
	}
}

// String is the digest in hex.
func (h RefsHash) String() string { return hex.EncodeToString(h[:]) }

// ParseRefsHash reads a digest written by String; an empty or malformed one
// is the digest of no refs.
func ParseRefsHash(s string) RefsHash {
	var h RefsHash
	if b, err := hex.DecodeString(s); err == nil && len(b) == len(h) {
		copy(h[:], b)
	}
	return h
}

// RefsHash returns the digest of a repository's refs: for a remote one,
// listed without fetching; for a local one, read in place.
func (s *GitSource) RefsHash(ctx context.Context, repo *store.Repository) (RefsHash, error) {
	var h RefsHash
	var refs []gitrepo.Ref
	u := repo.Object.Spec.Git.URL
	if p, ok := s.localPath(repo); ok {
		g, err := gitrepo.Open(p)
		if err != nil {
			return h, err
		}
		if refs, err = g.Refs(ctx); err != nil {
			return h, err
		}
	} else {
		creds, err := s.credentials(ctx, repo)
		if err != nil {
			return h, err
		}
		if refs, err = gitrepo.ListRemote(ctx, u, creds); err != nil {
			return h, err
		}
	}
	for _, r := range refs {
		h.Toggle(r.Name, r.Target)
	}
	return h, nil
}

// RemoveMirror deletes the mirror of a repository, if it has one.
func (s *GitSource) RemoveMirror(repo *store.Repository) error {
	if _, ok := s.localPath(repo); ok || s.MirrorDir == "" {
		return nil
	}
	return os.RemoveAll(s.mirrorPath(repo))
}
