package pkgcheck

import (
	"context"
	"errors"
	"fmt"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/observe"
	"github.com/pkgserver/pkgserver/internal/revision"
)

// ValidateAt validates packages (paths from the repository's root) as a
// commit holds them, with the repository's policies as of branchTip; those
// the commit does not hold are left out. Policies that do not compile are
// an error.
func (s *Service) ValidateAt(ctx context.Context, repo *gitrepo.Repo, branchTip, commit string, fulls []string) (*Report, error) {
	b, err := repo.NewBatch(ctx)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	return s.ValidateWith(ctx, repo, b, branchTip, commit, fulls)
}

// ValidateWith is ValidateAt reading through a batch the caller has open.
// A context that ends midway is an error (wrapping the context's), never
// findings of the reads it cut short.
func (s *Service) ValidateWith(ctx context.Context, repo *gitrepo.Repo, b *gitrepo.Batch, branchTip, commit string, fulls []string) (*Report, error) {
	rep, err := s.validateWith(ctx, repo, b, branchTip, commit, fulls)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return nil, fmt.Errorf("validation cut short: %w", ctxErr)
	}
	return rep, err
}

func (s *Service) validateWith(ctx context.Context, repo *gitrepo.Repo, b *gitrepo.Batch, branchTip, commit string, fulls []string) (*Report, error) {
	run := s.Start(ctx, repo, b, branchTip)
	// Policies that cannot be read or compiled are an error here, not a
	// finding: what is decided on them (a publication) waits for them.
	if _, err := run.engine(); err != nil {
		return nil, fmt.Errorf("the repository's policies: %w", err)
	}
	tags, trees := NewTags(ctx, repo), batchTrees{b}
	for _, full := range fulls {
		tree, err := PackageTree(trees, commit, full)
		if err != nil {
			return nil, err
		}
		if tree == "" {
			continue
		}
		prev, err := run.Previous(tags, trees, full, 0)
		if err != nil {
			return nil, err
		}
		run.Add(full, tree, prev)
	}
	rep := &Report{Accept: true}
	if run.Len() == 0 {
		return rep, nil
	}
	lines, errs, n, err := run.Validate(rep)
	if err != nil {
		return nil, err
	}
	rep.Lines, rep.Validated, rep.Accept = lines, n, errs == 0
	return rep, nil
}

// Trees reads the trees of a repository's commits. A check that reads
// many (a push's) keeps what it read.
type Trees interface {
	// TreeID returns the id of the tree at a path of a commit, "" if
	// there is none.
	TreeID(commit, path string) (string, error)
	// Entries returns the entries of a tree.
	Entries(tree string) ([]gitrepo.TreeEntry, error)
}

// PackageTree returns the tree of a package in a commit, "" if the commit
// has no Kptfile there.
func PackageTree(t Trees, commit, full string) (string, error) {
	tree, err := t.TreeID(commit, full)
	if err != nil || tree == "" {
		return "", err
	}
	entries, err := t.Entries(tree)
	if err != nil || !observe.HasKptfile(entries) {
		return "", err
	}
	return tree, nil
}

// Previous returns the tree of a package's published revision v<n> (n 0:
// the highest), which policies see as the old one; "" if there is none,
// or if the run's policies do not look at previous revisions (nothing is
// read then).
func (r *Run) Previous(tags *Tags, t Trees, full string, n int) (string, error) {
	if !r.NeedPrevious() {
		return "", nil
	}
	refs, err := tags.Of(full)
	if err != nil {
		return "", err
	}
	commit := Published(refs, full, n)
	if commit == "" {
		return "", nil
	}
	return PackageTree(t, commit, full)
}

// batchTrees reads trees through a batch, keeping nothing: a check of a
// few packages.
type batchTrees struct{ b *gitrepo.Batch }

func (t batchTrees) TreeID(commit, path string) (string, error) {
	return treeID(t.b, commit, path)
}

func (t batchTrees) Entries(tree string) ([]gitrepo.TreeEntry, error) {
	return t.b.ReadTree(tree)
}

// Changed is a package a change adds or changes: its path from the
// repository's root and its tree after the change.
type Changed struct {
	Full, Tree string
}

// Changes returns the packages that differ between two versions of the
// repository directory (trees; "" where it is absent) and are present in
// the new one, in the order observe.DiffPackages finds them: removed
// packages are not validated. Dot directories at the repository's root
// (.pkgserver) hold no packages, and a Kptfile at the repository directory
// does not make it one.
func Changes(r *observe.Reader, cfg revision.Config, oldTree, newTree string) ([]Changed, error) {
	cfg = cfg.Normalize()
	if oldTree == newTree || newTree == "" {
		return nil, nil
	}
	// The root of the walk is the repository's root only without a
	// directory: dot directories below a directory are walked.
	opt := observe.DiffOptions{SkipDotDirs: cfg.Directory == "", RootNotPackage: true}
	changes, err := r.DiffPackages(oldTree, newTree, opt)
	if err != nil {
		return nil, err
	}
	var out []Changed
	for _, c := range changes {
		if c.New != "" {
			out = append(out, Changed{Full: cfg.Full(c.Path), Tree: c.New})
		}
	}
	return out, nil
}

// ChangedPackages returns the paths (from the repository's root) of the
// packages whose trees differ between base and head ("" base: every
// package of head), in the order found.
func ChangedPackages(ctx context.Context, repo *gitrepo.Repo, cfg revision.Config, base, head string) ([]string, error) {
	b, err := repo.NewBatch(ctx)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	cfg = cfg.Normalize()
	var oldTree string
	if base != "" {
		if oldTree, err = treeID(b, base, cfg.Directory); err != nil {
			return nil, err
		}
	}
	newTree, err := treeID(b, head, cfg.Directory)
	if err != nil {
		return nil, err
	}
	changes, err := Changes(observe.WithBatch(ctx, b, cfg), cfg, oldTree, newTree)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, c := range changes {
		out = append(out, c.Full)
	}
	return out, nil
}

// treeID returns the id of the tree at path in a commit, "" if there is
// none.
func treeID(b *gitrepo.Batch, commit, path string) (string, error) {
	id, err := b.TreeID(commit, path)
	if errors.Is(err, gitrepo.ErrObjectNotFound) {
		return "", nil
	}
	return id, err
}
