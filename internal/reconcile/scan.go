package reconcile

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/observe"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// MaxBlobBytes is the largest file the index stores. A package holding a
// larger one is not indexed (validation refuses files over 2 MiB long
// before: this bounds what a repository pushed around validation can cost).
const MaxBlobBytes = 8 << 20

// scanner reads what the reconciler needs from one repository, with one
// `cat-file --batch` process started on first use and fed many requests at
// a time: the observe package's reader, and what only the reconciler reads
// (the branch's packages, its history, blobs).
type scanner struct {
	*observe.Reader
	ctx  context.Context
	repo *gitrepo.Repo
	cfg  revision.Config
}

func newScanner(ctx context.Context, repo *gitrepo.Repo, cfg revision.Config) *scanner {
	return &scanner{Reader: observe.New(ctx, repo, cfg), ctx: ctx, repo: repo, cfg: cfg}
}

func (s *scanner) close() { s.Reader.Close() }

// branchPackages finds the packages at a commit of the branch: the
// outermost directories below the repository directory holding a Kptfile.
// Directories whose path is not a valid package path are returned as
// problems, keyed by path.
func (s *scanner) branchPackages(commit string) (map[string]string, map[string]string, error) {
	root, err := s.TreePaths([]string{commit}, []string{s.cfg.Directory})
	if err != nil {
		return nil, nil, err
	}
	return s.Packages(root[0])
}

// diffBranch compares the branch at two commits, descending only into
// trees whose ids differ, and returns the paths of packages (and of invalid
// package directories) that were added, removed or changed.
func (s *scanner) diffBranch(oldCommit, newCommit string) (map[string]bool, error) {
	roots, err := s.TreePaths([]string{oldCommit, newCommit}, []string{s.cfg.Directory, s.cfg.Directory})
	if err != nil {
		return nil, err
	}
	changes, err := s.DiffPackages(roots[0], roots[1], observe.DiffOptions{})
	if err != nil {
		return nil, err
	}
	changed := make(map[string]bool, len(changes))
	for _, c := range changes {
		changed[c.Path] = true
	}
	return changed, nil
}

// lastChanges finds, for each package, the newest first-parent commit of the
// branch that changed it: from tip, not reaching exclude. Packages not
// changed in that range are left out.
func (s *scanner) lastChanges(tip string, exclude []string, pkgs []string) (map[string]string, error) {
	want := map[string]bool{}
	for _, p := range pkgs {
		want[p] = true
	}
	found := map[string]string{}
	prefix := ""
	if s.cfg.Directory != "" {
		prefix = s.cfg.Directory + "/"
	}
	err := s.repo.Log(s.ctx, tip, exclude, s.cfg.Directory, func(commit string, paths []string) bool {
		for _, p := range paths {
			rel := strings.TrimPrefix(p, prefix)
			// The package holding the path: its longest prefix among the
			// packages looked for.
			for dir := path.Dir(rel); ; dir = path.Dir(dir) {
				if want[dir] {
					if _, done := found[dir]; !done {
						found[dir] = commit
					}
					break
				}
				if dir == "." || dir == "/" {
					break
				}
			}
		}
		return len(found) < len(want)
	})
	return found, err
}

// refSource is a ref with what its name says.
type refSource struct {
	ref gitrepo.Ref
	src revision.Source
}

// observeRefs resolves refs of the contract, other than the branch, into
// candidate observations (see observe.Reader.Refs).
func (s *scanner) observeRefs(items []refSource) ([]revision.Observation, error) {
	refs := make([]gitrepo.Ref, len(items))
	srcs := make([]revision.Source, len(items))
	for i, it := range items {
		refs[i], srcs[i] = it.ref, it.src
	}
	return s.Refs(refs, srcs)
}

// packageTree is what a package tree holds, as the index keeps it.
type packageTree struct {
	observe.Tree
	files []store.File
	// meta is what its Kptfile says about the revision; nil when nothing.
	meta *revision.Meta
}

// packageTrees reads package trees as the observe package does, with their
// files as the index stores them.
func (s *scanner) packageTrees(ids []string) (map[string]*packageTree, error) {
	read, err := s.PackageTrees(ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*packageTree, len(read))
	for id, t := range read {
		pt := &packageTree{Tree: *t, files: make([]store.File, len(t.Files))}
		for i, f := range t.Files {
			pt.files[i] = store.File{Path: f.Path, Mode: f.Mode, BlobID: f.BlobID}
		}
		pt.Tree.Files = nil // kept once, as files
		out[id] = pt
	}
	return out, nil
}

// readBlobs streams the content of blobs to put.
func (s *scanner) readBlobs(ids []string, put store.BlobPut) error {
	if len(ids) == 0 {
		return nil
	}
	b, err := s.Batch()
	if err != nil {
		return err
	}
	return b.ReadAll(ids, func(i int, obj *gitrepo.Object) error {
		if obj == nil {
			return fmt.Errorf("blob %s: %w", ids[i], gitrepo.ErrObjectNotFound)
		}
		return put(ids[i], obj.Data)
	})
}

// refsNamed returns the named refs that exist, through the batch process
// rather than a git command of their own: an update names a handful of refs.
// Names git would not accept are left out.
func (s *scanner) refsNamed(names []string) ([]gitrepo.Ref, error) {
	var specs []string
	for _, n := range names {
		if gitrepo.ValidateRefName(n) == nil {
			specs = append(specs, n)
		}
	}
	if len(specs) == 0 {
		return nil, nil
	}
	b, err := s.Batch()
	if err != nil {
		return nil, err
	}
	var refs []gitrepo.Ref
	err = b.ReadAll(specs, func(i int, obj *gitrepo.Object) error {
		if obj == nil {
			return nil
		}
		ref := gitrepo.Ref{Name: specs[i], Target: obj.ID, Commit: obj.ID}
		switch obj.Type {
		case "commit":
			c, err := gitrepo.ParseCommit(obj)
			if err != nil {
				return err
			}
			s.Commits[obj.ID] = c
		case "tag":
			t, err := gitrepo.ParseTag(obj)
			if err != nil {
				return err
			}
			ref.Annotated, ref.Commit = true, t.Target.String()
		default:
			s.Types[obj.ID] = obj.Type
		}
		refs = append(refs, ref)
		return nil
	})
	return refs, err
}

// firstParents returns the first-parent chain from tip down to stop,
// excluded, newest first, reading at most limit commits. ok is false when
// stop is not on the chain within the limit.
func (s *scanner) firstParents(tip, stop string, limit int) (chain []string, ok bool, err error) {
	for c := tip; len(chain) < limit; {
		if c == stop {
			return chain, true, nil
		}
		if _, err := s.ReadObjects([]string{c}, nil); err != nil {
			return nil, false, err
		}
		obj := s.Commits[c]
		if obj == nil {
			return nil, false, fmt.Errorf("%s is not a commit", c)
		}
		chain = append(chain, c)
		if len(obj.ParentHashes) == 0 {
			return chain, false, nil
		}
		c = obj.ParentHashes[0].String()
	}
	return chain, false, nil
}
