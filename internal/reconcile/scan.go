package reconcile

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// MaxBlobBytes is the largest file the index stores. A package holding a
// larger one is not indexed (validation refuses files over 2 MiB long
// before: this bounds what a repository pushed around validation can cost).
const MaxBlobBytes = 8 << 20

// scanner reads what the reconciler needs from one repository, with one
// `cat-file --batch` process started on first use and fed many requests at
// a time.
type scanner struct {
	ctx   context.Context
	repo  *gitrepo.Repo
	cfg   revision.Config
	batch *gitrepo.Batch
	// trees caches tree objects read, by id.
	trees map[string][]gitrepo.TreeEntry
	// commits caches commit metadata, by id; types records the type of
	// every other object read.
	commits map[string]*object.Commit
	types   map[string]string
}

func newScanner(ctx context.Context, repo *gitrepo.Repo, cfg revision.Config) *scanner {
	return &scanner{ctx: ctx, repo: repo, cfg: cfg, trees: map[string][]gitrepo.TreeEntry{}, commits: map[string]*object.Commit{},
		types: map[string]string{}}
}

// batchScanner returns a scanner reading through a batch its caller owns
// (and closes): it needs no repository of its own, and starts no git
// process.
func batchScanner(ctx context.Context, b *gitrepo.Batch, cfg revision.Config) *scanner {
	s := newScanner(ctx, nil, cfg)
	s.batch = b
	return s
}

func (s *scanner) close() {
	if s.batch != nil {
		s.batch.Close()
	}
}

func (s *scanner) getBatch() (*gitrepo.Batch, error) {
	if s.batch == nil {
		b, err := s.repo.NewBatch(s.ctx)
		if err != nil {
			return nil, err
		}
		s.batch = b
	}
	return s.batch, nil
}

// commitTrees returns the root tree of each commit, reading the commits
// not yet cached.
func (s *scanner) commitTrees(commits []string) ([]string, error) {
	if _, err := s.readObjects(commits, nil); err != nil {
		return nil, err
	}
	out := make([]string, len(commits))
	for i, c := range commits {
		if obj := s.commits[c]; obj != nil {
			out[i] = obj.TreeHash.String()
		}
	}
	return out, nil
}

// treePaths returns the tree at each commit and path ("" for the root),
// or "" where there is none. It walks trees itself, a level at a time with
// each tree read once, rather than have git resolve every path: a hundred
// thousand tags on ten commits read a few hundred trees.
func (s *scanner) treePaths(commits, paths []string) ([]string, error) {
	cur, err := s.commitTrees(commits)
	if err != nil {
		return nil, err
	}
	segs := make([][]string, len(paths))
	depth := 0
	for i, p := range paths {
		if p != "" {
			segs[i] = strings.Split(p, "/")
			depth = max(depth, len(segs[i]))
		}
	}
	for d := 0; d < depth; d++ {
		var want []string
		for i := range paths {
			if d < len(segs[i]) && cur[i] != "" {
				want = append(want, cur[i])
			}
		}
		if err := s.readTrees(want); err != nil {
			return nil, err
		}
		for i := range paths {
			if d >= len(segs[i]) || cur[i] == "" {
				continue
			}
			next := ""
			for _, e := range s.trees[cur[i]] {
				if e.Name == segs[i][d] {
					if e.IsTree() {
						next = e.ID
					}
					break
				}
			}
			cur[i] = next
		}
	}
	return cur, nil
}

// readTrees reads the trees not yet cached.
func (s *scanner) readTrees(ids []string) error {
	var want []string
	seen := map[string]bool{}
	for _, id := range ids {
		if _, ok := s.trees[id]; !ok && id != "" && !seen[id] {
			want = append(want, id)
			seen[id] = true
		}
	}
	if len(want) == 0 {
		return nil
	}
	b, err := s.getBatch()
	if err != nil {
		return err
	}
	return b.ReadAll(want, func(i int, obj *gitrepo.Object) error {
		if obj == nil || obj.Type != "tree" {
			return fmt.Errorf("tree %s: %w", want[i], gitrepo.ErrObjectNotFound)
		}
		entries, err := gitrepo.ParseTree(obj.Data)
		if err != nil {
			return fmt.Errorf("tree %s: %w", want[i], err)
		}
		s.trees[want[i]] = entries
		return nil
	})
}

// readCommits reads commits and annotated tags not yet cached, so that
// their metadata is at hand. Tags are returned by id.
func (s *scanner) readObjects(commits, tags []string) (map[string]*object.Tag, error) {
	var want []string
	seen := map[string]bool{}
	for _, id := range commits {
		if _, ok := s.commits[id]; !ok && id != "" && !seen[id] {
			want = append(want, id)
			seen[id] = true
		}
	}
	for _, id := range tags {
		if id != "" && !seen[id] {
			want = append(want, id)
			seen[id] = true
		}
	}
	out := map[string]*object.Tag{}
	if len(want) == 0 {
		return out, nil
	}
	b, err := s.getBatch()
	if err != nil {
		return nil, err
	}
	err = b.ReadAll(want, func(i int, obj *gitrepo.Object) error {
		if obj == nil {
			return fmt.Errorf("object %s: %w", want[i], gitrepo.ErrObjectNotFound)
		}
		s.types[obj.ID] = obj.Type
		switch obj.Type {
		case "commit":
			c, err := gitrepo.ParseCommit(obj)
			if err != nil {
				return err
			}
			s.commits[obj.ID] = c
		case "tag":
			t, err := gitrepo.ParseTag(obj)
			if err != nil {
				return err
			}
			out[obj.ID] = t
		}
		return nil
	})
	return out, err
}

// made is who made a git object, when, and its message, as the contract
// reads them.
func made(sig object.Signature, message string) revision.Made {
	return revision.Made{Name: sig.Name, Email: sig.Email, When: sig.When, Message: message}
}

// CommitMade is who made a commit, when, and its message, as the contract
// reads them (see revision.Observe).
func CommitMade(c *object.Commit) revision.Made { return made(c.Committer, c.Message) }

func hasKptfile(entries []gitrepo.TreeEntry) bool {
	for _, e := range entries {
		if e.Name == "Kptfile" && e.IsBlob() {
			return true
		}
	}
	return false
}

// observeRefs resolves refs of the contract, other than the branch, into
// observations.
func (s *scanner) observeRefs(items []refSource) ([]revision.Observation, error) {
	commits := make([]string, len(items))
	paths := make([]string, len(items))
	var tags []string
	for i, it := range items {
		commits[i], paths[i] = it.ref.Commit, s.cfg.Full(it.src.Package)
		if it.ref.Annotated {
			tags = append(tags, it.ref.Target)
		}
	}
	treeOf, err := s.treePaths(commits, paths)
	if err != nil {
		return nil, err
	}
	tagObjs, err := s.readObjects(commits, tags)
	if err != nil {
		return nil, err
	}
	out := make([]revision.Observation, len(items))
	for i, it := range items {
		c := s.commits[it.ref.Commit]
		if c == nil {
			out[i] = revision.Observation{Source: it.src, Commit: it.ref.Commit,
				Problem: fmt.Sprintf("the ref leads to a %s, not a commit", s.types[it.ref.Commit])}
			continue
		}
		var tagged *revision.Made
		if tag := tagObjs[it.ref.Target]; it.ref.Annotated && tag != nil {
			m := made(tag.Tagger, tag.Message)
			tagged = &m
		}
		// A candidate: the caller checks that the tree is a package.
		out[i] = revision.Observe(s.cfg, it.src, it.ref.Commit, treeOf[i], made(c.Committer, c.Message), tagged)
	}
	return out, nil
}

// refSource is a ref with what its name says.
type refSource struct {
	ref gitrepo.Ref
	src revision.Source
}

// branchPackages finds the packages at a commit of the branch: the
// outermost directories below the repository directory holding a Kptfile.
// Directories whose path is not a valid package path are returned as
// problems, keyed by path.
func (s *scanner) branchPackages(commit string) (map[string]string, map[string]string, error) {
	root, err := s.treePaths([]string{commit}, []string{s.cfg.Directory})
	if err != nil {
		return nil, nil, err
	}
	pkgs, problems := map[string]string{}, map[string]string{}
	if root[0] == "" {
		return pkgs, problems, nil // no such directory at that commit
	}
	err = s.walkPackages(root[0], "", pkgs, problems)
	return pkgs, problems, err
}

// walkPackages walks a tree breadth first, reading each level in one batch.
func (s *scanner) walkPackages(tree, prefix string, pkgs, problems map[string]string) error {
	type node struct{ tree, path string }
	level := []node{{tree, prefix}}
	for len(level) > 0 {
		ids := make([]string, len(level))
		for i, n := range level {
			ids[i] = n.tree
		}
		if err := s.readTrees(ids); err != nil {
			return err
		}
		var next []node
		for _, n := range level {
			entries := s.trees[n.tree]
			if hasKptfile(entries) {
				switch {
				case n.path == "":
					problems[""] = fmt.Sprintf("a Kptfile at the repository directory %q: packages are directories below it", "/"+s.cfg.Directory)
				default:
					if err := revision.ValidatePackagePath(n.path); err != nil {
						problems[n.path] = err.Error()
					} else {
						pkgs[n.path] = n.tree
					}
				}
				continue
			}
			for _, e := range entries {
				if e.IsTree() {
					next = append(next, node{e.ID, path.Join(n.path, e.Name)})
				}
			}
		}
		level = next
	}
	return nil
}

// diffBranch compares the branch at two commits, descending only into
// trees whose ids differ, and returns the paths of packages (and of invalid
// package directories) that were added, removed or changed.
func (s *scanner) diffBranch(oldCommit, newCommit string) (map[string]bool, error) {
	roots, err := s.treePaths([]string{oldCommit, newCommit}, []string{s.cfg.Directory, s.cfg.Directory})
	if err != nil {
		return nil, err
	}
	changed := map[string]bool{}
	type pair struct{ old, new, path string }
	level := []pair{{roots[0], roots[1], ""}}
	for len(level) > 0 {
		var ids []string
		for _, p := range level {
			if p.old != p.new {
				ids = append(ids, p.old, p.new)
			}
		}
		if err := s.readTrees(ids); err != nil {
			return nil, err
		}
		var next []pair
		for _, p := range level {
			if p.old == p.new {
				continue
			}
			oldE, newE := s.trees[p.old], s.trees[p.new]
			oldPkg, newPkg := hasKptfile(oldE), hasKptfile(newE)
			if oldPkg || newPkg {
				changed[p.path] = true
				// Packages below a directory that became (or stopped being)
				// a package appear or disappear with it.
				for _, side := range []struct {
					tree  string
					isPkg bool
				}{{p.old, oldPkg}, {p.new, newPkg}} {
					if side.tree == "" || side.isPkg {
						continue
					}
					pkgs, problems := map[string]string{}, map[string]string{}
					if err := s.walkPackages(side.tree, p.path, pkgs, problems); err != nil {
						return nil, err
					}
					for k := range pkgs {
						changed[k] = true
					}
					for k := range problems {
						changed[k] = true
					}
				}
				continue
			}
			subtrees := func(entries []gitrepo.TreeEntry) map[string]string {
				m := map[string]string{}
				for _, e := range entries {
					if e.IsTree() {
						m[e.Name] = e.ID
					}
				}
				return m
			}
			o, n := subtrees(oldE), subtrees(newE)
			for name := range o {
				if o[name] != n[name] {
					next = append(next, pair{o[name], n[name], path.Join(p.path, name)})
				}
			}
			for name := range n {
				if _, both := o[name]; !both {
					next = append(next, pair{"", n[name], path.Join(p.path, name)})
				}
			}
		}
		level = next
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

// packageTree is what a package tree holds.
type packageTree struct {
	files []store.File
	// kptfile is whether the tree has a Kptfile at its root: whether it is a
	// package at all.
	kptfile bool
	problem string
	// meta is what its Kptfile says about the revision; nil when nothing.
	meta *revision.Meta
}

// packageTrees lists the files of package trees, reading their subtrees a
// level at a time, and says why a tree cannot be indexed: a Kptfile below
// the root (a nested package), a name git should not have accepted, a
// submodule.
func (s *scanner) packageTrees(ids []string) (map[string]*packageTree, error) {
	out := map[string]*packageTree{}
	type node struct{ root, tree, path string }
	var level []node
	for _, id := range ids {
		if _, ok := out[id]; !ok {
			out[id] = &packageTree{}
			level = append(level, node{id, id, ""})
		}
	}
	for len(level) > 0 {
		var treeIDs []string
		for _, n := range level {
			treeIDs = append(treeIDs, n.tree)
		}
		if err := s.readTrees(treeIDs); err != nil {
			return nil, err
		}
		var next []node
		for _, n := range level {
			pt := out[n.root]
			for _, e := range s.trees[n.tree] {
				p := path.Join(n.path, e.Name)
				if err := gitrepo.ValidatePathElement(e.Name); err != nil {
					if n.path == "" {
						pt.setProblem(err.Error()) // at the package's root
					} else {
						pt.setProblem(fmt.Sprintf("%v in %s", err, n.path))
					}
					continue
				}
				switch {
				case e.IsTree():
					next = append(next, node{n.root, e.ID, p})
				case e.Mode == gitrepo.ModeGitlink:
					pt.setProblem(fmt.Sprintf("%s is a submodule; packages cannot hold submodules", p))
				case e.IsBlob():
					if e.Name == "Kptfile" && n.path != "" {
						pt.setProblem(fmt.Sprintf("nested package: a Kptfile below the package root (%s)", p))
					}
					if e.Name == "Kptfile" && n.path == "" {
						pt.kptfile = true
					}
					pt.files = append(pt.files, store.File{Path: p, Mode: e.Mode, BlobID: e.ID})
				default:
					pt.setProblem(fmt.Sprintf("%s has an unknown file mode %o", p, e.Mode))
				}
			}
		}
		level = next
	}
	for _, pt := range out {
		slices.SortFunc(pt.files, func(a, b store.File) int { return strings.Compare(a.Path, b.Path) })
	}
	return out, nil
}

func (pt *packageTree) setProblem(p string) {
	if pt.problem == "" {
		pt.problem = p
	}
}

// readBlobs streams the content of blobs to put.
func (s *scanner) readBlobs(ids []string, put store.BlobPut) error {
	if len(ids) == 0 {
		return nil
	}
	b, err := s.getBatch()
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
	b, err := s.getBatch()
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
			s.commits[obj.ID] = c
		case "tag":
			t, err := gitrepo.ParseTag(obj)
			if err != nil {
				return err
			}
			ref.Annotated, ref.Commit = true, t.Target.String()
		default:
			s.types[obj.ID] = obj.Type
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
		if _, err := s.readObjects([]string{c}, nil); err != nil {
			return nil, false, err
		}
		obj := s.commits[c]
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
