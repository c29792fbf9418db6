// Package observe reads refs and package trees of a repository as the index
// observes them: what a ref of the git contract leads to (one level of
// annotated tag, then a commit), the package's tree in it, and whether that
// tree can be indexed. The reconciler reads repositories with it, and a
// push decision reads the refs as they would land with it, so that both
// judge alike; it depends on git and the contract only, not on the index.
package observe

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/revision"
)

// Reader reads objects of one repository through one `cat-file --batch`
// process, fed many requests at a time, and keeps what it read.
type Reader struct {
	ctx   context.Context
	repo  *gitrepo.Repo
	cfg   revision.Config
	batch *gitrepo.Batch
	owned bool
	// Trees caches tree objects read, by id.
	Trees map[string][]gitrepo.TreeEntry
	// Commits caches commit metadata, by id; Types records the type of
	// every other object read.
	Commits map[string]*object.Commit
	Types   map[string]string
}

// New returns a reader of a repository that starts its batch process on
// first use; Close ends it.
func New(ctx context.Context, repo *gitrepo.Repo, cfg revision.Config) *Reader {
	return &Reader{ctx: ctx, repo: repo, cfg: cfg.Normalize(), owned: true, Trees: map[string][]gitrepo.TreeEntry{},
		Commits: map[string]*object.Commit{}, Types: map[string]string{}}
}

// WithBatch returns a reader through a batch its caller has open (and
// closes): it starts no git process.
func WithBatch(ctx context.Context, b *gitrepo.Batch, cfg revision.Config) *Reader {
	r := New(ctx, nil, cfg)
	r.batch, r.owned = b, false
	return r
}

// Close ends the batch process the reader started, if any.
func (r *Reader) Close() {
	if r.owned && r.batch != nil {
		r.batch.Close()
		r.batch = nil
	}
}

// Batch returns the reader's batch, starting it if needed.
func (r *Reader) Batch() (*gitrepo.Batch, error) {
	if r.batch == nil {
		b, err := r.repo.NewBatch(r.ctx)
		if err != nil {
			return nil, err
		}
		r.batch = b
	}
	return r.batch, nil
}

// CommitTrees returns the root tree of each commit, reading the commits
// not yet cached.
func (r *Reader) CommitTrees(commits []string) ([]string, error) {
	if _, err := r.ReadObjects(commits, nil); err != nil {
		return nil, err
	}
	out := make([]string, len(commits))
	for i, c := range commits {
		if obj := r.Commits[c]; obj != nil {
			out[i] = obj.TreeHash.String()
		}
	}
	return out, nil
}

// TreePaths returns the tree at each commit and path ("" for the root),
// or "" where there is none. It walks trees itself, a level at a time with
// each tree read once, rather than have git resolve every path: a hundred
// thousand tags on ten commits read a few hundred trees.
func (r *Reader) TreePaths(commits, paths []string) ([]string, error) {
	cur, err := r.CommitTrees(commits)
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
		if err := r.ReadTrees(want); err != nil {
			return nil, err
		}
		for i := range paths {
			if d >= len(segs[i]) || cur[i] == "" {
				continue
			}
			next := ""
			for _, e := range r.Trees[cur[i]] {
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

// ReadTrees reads the trees not yet cached.
func (r *Reader) ReadTrees(ids []string) error {
	var want []string
	seen := map[string]bool{}
	for _, id := range ids {
		if _, ok := r.Trees[id]; !ok && id != "" && !seen[id] {
			want = append(want, id)
			seen[id] = true
		}
	}
	if len(want) == 0 {
		return nil
	}
	b, err := r.Batch()
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
		r.Trees[want[i]] = entries
		return nil
	})
}

// ReadObjects reads commits and annotated tags not yet cached, so that
// their metadata is at hand. Tags are returned by id.
func (r *Reader) ReadObjects(commits, tags []string) (map[string]*object.Tag, error) {
	var want []string
	seen := map[string]bool{}
	for _, id := range commits {
		if _, ok := r.Commits[id]; !ok && id != "" && !seen[id] {
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
	b, err := r.Batch()
	if err != nil {
		return nil, err
	}
	err = b.ReadAll(want, func(i int, obj *gitrepo.Object) error {
		if obj == nil {
			return fmt.Errorf("object %s: %w", want[i], gitrepo.ErrObjectNotFound)
		}
		r.Types[obj.ID] = obj.Type
		switch obj.Type {
		case "commit":
			c, err := gitrepo.ParseCommit(obj)
			if err != nil {
				return err
			}
			r.Commits[obj.ID] = c
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

// Made is who made a git object, when, and its message, as the contract
// reads them.
func Made(sig object.Signature, message string) revision.Made {
	return revision.Made{Name: sig.Name, Email: sig.Email, When: sig.When, Message: message}
}

// CommitMade is who made a commit (its committer), when, its message, and
// its author, as the contract reads them.
func CommitMade(c *object.Commit) revision.Made {
	m := Made(c.Committer, c.Message)
	m.AuthorEmail, m.AuthorWhen = c.Author.Email, c.Author.When
	return m
}

// HasKptfile tells whether a tree's entries hold a Kptfile.
func HasKptfile(entries []gitrepo.TreeEntry) bool {
	for _, e := range entries {
		if e.Name == "Kptfile" && e.IsBlob() {
			return true
		}
	}
	return false
}

// Refs resolves refs of the contract, other than the branch (srcs[i] is
// what the name of refs[i] says), into candidate observations: the tree
// is the package's path in the commit, which Tree.Judge then checks.
func (r *Reader) Refs(refs []gitrepo.Ref, srcs []revision.Source) ([]revision.Observation, error) {
	if len(refs) != len(srcs) {
		return nil, fmt.Errorf("%d refs and %d sources", len(refs), len(srcs))
	}
	commits := make([]string, len(refs))
	paths := make([]string, len(refs))
	var tags []string
	for i, ref := range refs {
		commits[i], paths[i] = ref.Commit, r.cfg.Full(srcs[i].Package)
		if ref.Annotated {
			tags = append(tags, ref.Target)
		}
	}
	treeOf, err := r.TreePaths(commits, paths)
	if err != nil {
		return nil, err
	}
	tagObjs, err := r.ReadObjects(commits, tags)
	if err != nil {
		return nil, err
	}
	enclosing, err := r.enclosing(commits, srcs, treeOf)
	if err != nil {
		return nil, err
	}
	out := make([]revision.Observation, len(refs))
	for i, ref := range refs {
		c := r.Commits[ref.Commit]
		if c == nil {
			out[i] = revision.Observation{Source: srcs[i], Commit: ref.Commit,
				Problem: fmt.Sprintf("the ref leads to a %s, not a commit", r.Types[ref.Commit])}
			continue
		}
		var tagged *revision.Made
		if tag := tagObjs[ref.Target]; ref.Annotated && tag != nil {
			m := Made(tag.Tagger, tag.Message)
			tagged = &m
		}
		out[i] = revision.Observe(r.cfg, srcs[i], ref.Commit, treeOf[i], CommitMade(c), tagged)
		if enclosing[i] != "" {
			out[i].Problem = fmt.Sprintf("%s is a subpackage of %s at this commit: content of that package, not a package of its own",
				paths[i], r.cfg.Full(enclosing[i]))
		}
	}
	return out, nil
}

// enclosing returns, for each ref whose package directory holds a Kptfile
// at its commit (trees[i]), the outermost package enclosing it there: a
// directory between the repository directory and the package's that holds
// a Kptfile ("" when none). Such a directory is a subpackage, content of
// that package, as the branch's packages are found (Packages).
func (r *Reader) enclosing(commits []string, srcs []revision.Source, trees []string) ([]string, error) {
	out := make([]string, len(srcs))
	var cs, ps, dirs []string
	var owner []int
	for i, src := range srcs {
		parts := strings.Split(src.Package, "/")
		if trees[i] == "" || len(parts) < 2 {
			continue
		}
		for j := 1; j < len(parts); j++ {
			dir := strings.Join(parts[:j], "/")
			cs, ps, dirs, owner = append(cs, commits[i]), append(ps, r.cfg.Full(dir)), append(dirs, dir), append(owner, i)
		}
	}
	if len(cs) == 0 {
		return out, nil
	}
	above, err := r.TreePaths(cs, ps)
	if err != nil {
		return nil, err
	}
	if err := r.ReadTrees(above); err != nil {
		return nil, err
	}
	var own []string
	for k, id := range above {
		if i := owner[k]; id != "" && out[i] == "" && HasKptfile(r.Trees[id]) {
			out[i] = dirs[k] // outermost first
			own = append(own, trees[i])
		}
	}
	// Only a directory that would be a package is a subpackage; any other
	// is a directory of the enclosing package, which the ref does not name.
	if err := r.ReadTrees(own); err != nil {
		return nil, err
	}
	for i := range out {
		if out[i] != "" && !HasKptfile(r.Trees[trees[i]]) {
			out[i] = ""
		}
	}
	return out, nil
}

// File is a file of a package tree.
type File struct {
	Path   string
	Mode   uint32
	BlobID string
}

// Tree is what a package tree holds.
type Tree struct {
	Files []File
	// Kptfile is whether the tree has a Kptfile at its root: whether it is
	// a package at all. A Kptfile below the root is a subpackage's: content
	// of the package, listed among its files like any other.
	Kptfile bool
	// Problem says why the index cannot hold the tree, "" when it can.
	Problem string
}

// Judge applies to an observation what the reading of its package tree
// found (t nil: not read): no package there, or why it cannot be indexed.
func (t *Tree) Judge(o *revision.Observation) {
	switch {
	case t == nil:
	case !t.Kptfile:
		o.Tree = ""
	case t.Problem != "":
		o.Problem = t.Problem
	}
}

// SetProblem records why the index cannot hold the tree, unless a reason
// is recorded already: the first found is told.
func (t *Tree) SetProblem(p string) {
	if t.Problem == "" {
		t.Problem = p
	}
}

// PackageTrees lists the files of package trees, reading their subtrees a
// level at a time, and says why a tree cannot be indexed: a name git should
// not have accepted, a submodule. The files of subpackages (directories
// below the root holding a Kptfile of their own) are the package's: kpt
// fetches a package with its subpackages, and so does the index.
func (r *Reader) PackageTrees(ids []string) (map[string]*Tree, error) {
	out := map[string]*Tree{}
	type node struct{ root, tree, path string }
	var level []node
	for _, id := range ids {
		if _, ok := out[id]; !ok {
			out[id] = &Tree{}
			level = append(level, node{id, id, ""})
		}
	}
	for len(level) > 0 {
		var treeIDs []string
		for _, n := range level {
			treeIDs = append(treeIDs, n.tree)
		}
		if err := r.ReadTrees(treeIDs); err != nil {
			return nil, err
		}
		var next []node
		for _, n := range level {
			pt := out[n.root]
			for _, e := range r.Trees[n.tree] {
				p := path.Join(n.path, e.Name)
				if err := gitrepo.ValidatePathElement(e.Name); err != nil {
					if n.path == "" {
						pt.SetProblem(err.Error()) // at the package's root
					} else {
						pt.SetProblem(fmt.Sprintf("%v in %s", err, n.path))
					}
					continue
				}
				switch {
				case e.IsTree():
					next = append(next, node{n.root, e.ID, p})
				case e.Mode == gitrepo.ModeGitlink:
					pt.SetProblem(fmt.Sprintf("%s is a submodule; packages cannot hold submodules", p))
				case e.IsBlob():
					if e.Name == "Kptfile" && n.path == "" {
						pt.Kptfile = true
					}
					pt.Files = append(pt.Files, File{Path: p, Mode: e.Mode, BlobID: e.ID})
				default:
					pt.SetProblem(fmt.Sprintf("%s has an unknown file mode %o", p, e.Mode))
				}
			}
		}
		level = next
	}
	for _, pt := range out {
		slices.SortFunc(pt.Files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	}
	return out, nil
}

// ObserveRefs returns what the index observes of refs of the contract
// (srcs[i] is what the name of refs[i] says, the branch's with its
// Package set) at the targets given, which need not be where the refs are
// now: a push not yet accepted is observed as it would land. Package trees
// are checked as the index checks them, but for the sizes of their files,
// which validation bounds far below the index's limit. Deriving revisions
// from the result (revision.DerivePackage) tells which refs the index
// would make revisions of, and why not the others. Objects are read
// through the caller's batch, which stays open.
func ObserveRefs(ctx context.Context, b *gitrepo.Batch, cfg revision.Config, refs []gitrepo.Ref, srcs []revision.Source) ([]revision.Observation, error) {
	return WithBatch(ctx, b, cfg).Observe(refs, srcs)
}

// Observe is ObserveRefs through the reader, whose cache of trees one
// decision shares between its questions.
func (r *Reader) Observe(refs []gitrepo.Ref, srcs []revision.Source) ([]revision.Observation, error) {
	obs, err := r.Refs(refs, srcs)
	if err != nil {
		return nil, err
	}
	var trees []string
	for _, o := range obs {
		if o.Tree != "" {
			trees = append(trees, o.Tree)
		}
	}
	slices.Sort(trees)
	read, err := r.PackageTrees(slices.Compact(trees))
	if err != nil {
		return nil, err
	}
	for i := range obs {
		read[obs[i].Tree].Judge(&obs[i])
	}
	return obs, nil
}

// TreeProblems returns why the index would not index each of the given
// package trees ("" when it would), as ObserveRefs checks them, reading
// through the caller's batch.
func TreeProblems(ctx context.Context, b *gitrepo.Batch, cfg revision.Config, trees []string) ([]string, error) {
	return WithBatch(ctx, b, cfg).TreeProblems(trees)
}

// TreeProblems is the package function through the reader.
func (r *Reader) TreeProblems(trees []string) ([]string, error) {
	read, err := r.PackageTrees(trees)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(trees))
	for i, id := range trees {
		o := revision.Observation{Tree: id}
		read[id].Judge(&o)
		switch {
		case o.Tree == "":
			out[i] = "the directory has no Kptfile"
		default:
			out[i] = o.Problem
		}
	}
	return out, nil
}
