package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// ErrNotRepository is returned by Open for a path that holds no repository.
var ErrNotRepository = errors.New("not a git repository")

// Repo is a git repository on local disk, bare or not.
type Repo struct {
	gitDir string
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
	// Target is the object the ref points at; Type is that object's type.
	Target string
	Type   string
	// Commit is the commit a tag peels to, or Target for a branch; empty
	// when the ref does not lead to a commit.
	Commit string
}

// Annotated reports whether the ref is an annotated tag.
func (r Ref) Annotated() bool { return r.Type == "tag" }

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
	args := append([]string{"for-each-ref", "--format=%(objectname) %(objecttype) %(*objectname) %(*objecttype) %(refname)", "--"}, patterns...)
	out, err := output(ctx, r.gitDir, args...)
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
		// objectname objecttype peeledname peeledtype refname: the peeled
		// fields are empty for anything but annotated tags.
		f := strings.SplitN(string(line), " ", 5)
		if len(f) != 5 {
			return nil, fmt.Errorf("for-each-ref: unexpected line %q", line)
		}
		ref := Ref{Name: f[4], Target: f[0], Type: f[1]}
		switch {
		case f[1] == "commit":
			ref.Commit = f[0]
		case f[1] == "tag" && f[3] == "commit":
			ref.Commit = f[2]
		}
		refs = append(refs, ref)
	}
	return refs, nil
}

// Exists reports whether a directory holds a repository.
func Exists(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "HEAD"))
	return err == nil
}

// RefsNamed lists the named refs (full names) that exist.
func (r *Repo) RefsNamed(ctx context.Context, names []string) ([]Ref, error) {
	if len(names) == 0 {
		return nil, nil
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []Ref
	// for-each-ref matches patterns by prefix up to a slash: filter exactly.
	for start := 0; start < len(names); start += 200 {
		end := min(start+200, len(names))
		refs, err := r.refs(ctx, names[start:end]...)
		if err != nil {
			return nil, err
		}
		for _, ref := range refs {
			if want[ref.Name] {
				out = append(out, ref)
				delete(want, ref.Name)
			}
		}
	}
	return out, nil
}

// IsAncestor reports whether commit a is an ancestor of (or is) commit b.
func (r *Repo) IsAncestor(ctx context.Context, a, b string) (bool, error) {
	cmd := command(ctx, r.gitDir, "merge-base", "--is-ancestor", a, b)
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
