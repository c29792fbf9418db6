package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// ErrNotRepository is returned by Open for a path that holds no repository.
var ErrNotRepository = errors.New("not a git repository")

// Repo is a git repository on local disk, bare or not.
type Repo struct {
	gitDir string
	// env is added to the environment of every git subprocess: the
	// variables of a push's quarantine (see WithQuarantine).
	env []string
}

// Open opens the repository at path: a bare repository, a work tree, or its
// .git directory. Only SHA-1 repositories are supported.
func Open(path string) (*Repo, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	r, err := git.PlainOpenWithOptions(abs, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
	if err != nil {
		if errors.Is(err, git.ErrRepositoryNotExists) {
			return nil, fmt.Errorf("%s: %w", path, ErrNotRepository)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	fs, ok := r.Storer.(*filesystem.Storage)
	if !ok {
		return nil, fmt.Errorf("open %s: unexpected storage", path)
	}
	repo := &Repo{gitDir: fs.Filesystem().Root()}
	cfg, err := r.Config()
	if err == nil && cfg.Raw != nil {
		if f := cfg.Raw.Section("extensions").Option("objectformat"); f != "" && f != "sha1" {
			return nil, fmt.Errorf("open %s: object format %s is not supported", path, f)
		}
	}
	return repo, nil
}

// GitDir is the repository's git directory.
func (r *Repo) GitDir() string { return r.gitDir }

// Ref is a ref and what it points at.
type Ref struct {
	Name string
	// Target is the object the ref points at.
	Target string
	// Annotated is set for an annotated tag.
	Annotated bool
	// Commit is what the ref leads to: the object an annotated tag peels to,
	// else Target. Callers check that it is a commit when they read it.
	Commit string
}

// Refs lists the repository's branches and tags, each peeled to its commit.
// Refs whose names git would not accept are returned too: callers validate.
func (r *Repo) Refs(ctx context.Context) ([]Ref, error) {
	return r.refs(ctx, "refs/heads", "refs/tags")
}

func (r *Repo) refs(ctx context.Context, patterns ...string) ([]Ref, error) {
	for _, p := range patterns {
		if strings.HasPrefix(p, "-") {
			return nil, fmt.Errorf("invalid ref pattern %q", p)
		}
	}
	// Object types are not asked for: git would read every object. A tag
	// that peels is annotated; what a ref leads to is checked when read.
	args := append([]string{"for-each-ref", "--format=%(objectname) %(*objectname) %(refname)", "--"}, patterns...)
	out, err := r.output(ctx, args...)
	if err != nil {
		return nil, err
	}
	var refs []Ref
	for len(out) > 0 {
		line, rest, _ := bytes.Cut(out, []byte{'\n'})
		out = rest
		if len(line) == 0 {
			continue
		}
		// objectname peeledname refname: the peeled name is empty for
		// anything but annotated tags.
		f := strings.SplitN(string(line), " ", 3)
		if len(f) != 3 {
			return nil, fmt.Errorf("for-each-ref: unexpected line %q", line)
		}
		ref := Ref{Name: f[2], Target: f[0], Commit: f[0]}
		if f[1] != "" {
			ref.Annotated, ref.Commit = true, f[1]
		}
		refs = append(refs, ref)
	}
	return refs, nil
}

// IsAncestor reports whether commit a is an ancestor of (or is) commit b.
func (r *Repo) IsAncestor(ctx context.Context, a, b string) (bool, error) {
	cmd := r.command(ctx, "merge-base", "--is-ancestor", a, b)
	err := cmd.Run()
	if err == nil {
		return true, nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 1 {
		return false, nil
	}
	return false, fmt.Errorf("git merge-base: %w", err)
}

// LargeBlobs lists every blob of the repository larger than limit, in one
// pass over the object store: cheaper than asking for each blob's size when
// most of the repository is to be read.
func (r *Repo) LargeBlobs(ctx context.Context, limit int64) (map[string]bool, error) {
	out, err := r.output(ctx, "cat-file", "--batch-all-objects", "--unordered",
		"--batch-check=%(objectname) %(objecttype) %(objectsize)")
	if err != nil {
		return nil, err
	}
	large := map[string]bool{}
	for len(out) > 0 {
		line, rest, _ := bytes.Cut(out, []byte{'\n'})
		out = rest
		f := strings.Fields(string(line))
		if len(f) != 3 || f[1] != "blob" {
			continue
		}
		if n, err := strconv.ParseInt(f[2], 10, 64); err == nil && n > limit {
			large[f[0]] = true
		}
	}
	return large, nil
}

// RefsNamed returns those of the named refs that exist.
func (r *Repo) RefsNamed(ctx context.Context, names ...string) ([]Ref, error) {
	refs, err := r.refs(ctx, names...)
	if err != nil {
		return nil, err
	}
	// for-each-ref patterns match prefixes by path component: keep exact
	// names only.
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := refs[:0]
	for _, ref := range refs {
		if want[ref.Name] {
			out = append(out, ref)
		}
	}
	return out, nil
}

// RefsUnder returns the refs below a prefix ending in "/".
func (r *Repo) RefsUnder(ctx context.Context, prefix string) ([]Ref, error) {
	return r.RefsUnderAll(ctx, prefix)
}

// MergeBase returns the best common ancestor of two commits, "" if they
// have none.
func (r *Repo) MergeBase(ctx context.Context, a, b string) (string, error) {
	cmd := r.command(ctx, "merge-base", a, b)
	out, err := cmd.Output()
	if err == nil {
		return strings.TrimSpace(string(out)), nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 1 {
		return "", nil
	}
	return "", fmt.Errorf("git merge-base: %w", err)
}

// Commit resolves an object id (full hexadecimal) to the commit it is or
// peels to (an annotated tag's), and that commit's first parent ("" for a
// root commit); commit is "" when the repository holds no such commit.
func (r *Repo) Commit(ctx context.Context, id string) (commit, parent string, err error) {
	if !IsObjectID(id) {
		return "", "", nil
	}
	cmd := r.command(ctx, "rev-list", "--parents", "-n", "1", id+"^{commit}", "--")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if ctx.Err() == nil && errors.As(err, &ee) {
			return "", "", nil // not there, or not a commit
		}
		return "", "", fmt.Errorf("git rev-list: %w", err)
	}
	f := strings.Fields(string(out))
	if len(f) == 0 {
		return "", "", nil
	}
	if len(f) > 1 {
		parent = f[1]
	}
	return f[0], parent, nil
}
