package hooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/observe"
	"github.com/pkgserver/pkgserver/internal/result"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
	"github.com/pkgserver/pkgserver/internal/validate"
)

// PoliciesDir is where a repository keeps its own policies, on its branch.
// Changing them takes the admin role.
const PoliciesDir = ".pkgserver/policies"

// Push is what a pre-receive hook decides on.
type Push struct {
	// Repo reads the repository through the push's quarantine.
	Repo   *gitrepo.Repo
	Config revision.Config
	// Role is the pusher's role in the repository's namespace.
	Role    store.Role
	Updates []revision.RefUpdate
}

// Decision is the outcome: whether every update of the push may go on, and
// what to tell the pusher, line by line.
type Decision struct {
	Accept bool
	Lines  []string
	// Validated counts the packages validated; Packages are their paths,
	// Results the findings, with file paths from the repository's root.
	Validated int
	Packages  []string
	Results   []result.Result
	// Checked are the packages validated with their trees and their own
	// findings (and those of no package, such as a policy that does not
	// compile, which concern them all).
	Checked []CheckedPackage
	// Refused holds the rules the push broke, one line each.
	Refused []string
}

// CheckedPackage is one package a decision validated.
type CheckedPackage struct {
	Full, Tree string
	Results    []result.Result
}

// Validations returns the outcome of the decision for each package tree
// it validated, as the index keeps it.
func (d *Decision) Validations(at time.Time) map[string]*store.Validation {
	out := map[string]*store.Validation{}
	for _, c := range d.Checked {
		out[c.Tree] = NewValidation(c.Results, at)
	}
	return out
}

// NewValidation is the outcome of validating a package, as the index
// keeps it.
func NewValidation(results []result.Result, at time.Time) *store.Validation {
	errs, warnings, _ := result.Count(results)
	v := &store.Validation{Errors: errs, Warnings: warnings, At: at.UTC()}
	if len(results) > 0 {
		v.Results, _ = json.Marshal(results) // plain values: cannot fail
	}
	return v
}

// Engines gives the validation engine for a repository's policies: the
// files of the tree at PoliciesDir on its branch (tree "" when there are
// none).
type Engines interface {
	Engine(ctx context.Context, repo *gitrepo.Repo, b *gitrepo.Batch, policiesTree string) (*validate.Engine, error)
}

// Checker applies the push policy.
type Checker struct {
	Engines Engines
	// MaxOutside bounds the commits off the branch a decision reads in
	// one pass to tell which of the push's commits are on the branch and
	// where the others leave it (0: DefaultMaxOutside); past it, each
	// ref's commit is asked about alone.
	MaxOutside int
}

// DefaultMaxOutside is the bound of Checker.MaxOutside: some 20,000
// commits, a few MiB, cover any push of new work; only an unrelated
// history (an import) goes past it.
const DefaultMaxOutside = 20000

func (k *check) maxOutside() int {
	if k.Checker != nil && k.MaxOutside > 0 {
		return k.MaxOutside
	}
	return DefaultMaxOutside
}

// check is one push being decided.
type check struct {
	*Checker
	ctx   context.Context
	push  *Push
	cfg   revision.Config
	batch *gitrepo.Batch
	// refused holds the rules a push broke, one line each.
	refused []string
	notes   []string
	// pkgs are the packages to validate, by tree id.
	pkgs  map[string]*pkgToValidate
	order []string
	// branchTip is the repository branch after the push.
	branchTip string
	// policiesChanged is set when the push changes the policies of the
	// repository branch: they are compiled even if no package changed.
	policiesChanged bool
	// pushedTags holds the package trees of the v<N> tags this push
	// creates, by <full>/v<N>: the previous revision of the next one.
	pushedTags map[string]string
	// tagCache holds the tags below packages' paths by <full>, listed one
	// package at a time (tagLookups of them) until everyTag is; ancestors
	// whether commits are on the branch.
	tagCache   map[string][]gitrepo.Ref
	tagLookups int
	ancestors  map[string]bool
	eng        *validate.Engine
	engErr     error
	// objs is what was read of the repository's objects; outside the
	// commits of the push's refs that are not on the branch, with their
	// parents (nil until asked).
	objs    objects
	outside map[string][]string
	// obs reads as the index observes (nil until asked).
	obs *observe.Reader
	// heads are the commits the push's refs lead to that outside tells
	// about (nil until it is read, empty when it was too large to read).
	heads map[string]bool
	// everyTag lists every tag of the repository, sorted, once a push
	// names many packages (nil until then).
	everyTag []gitrepo.Ref
	// noPrevious is set when packages are only listed, not validated.
	noPrevious bool
}

type pkgToValidate struct {
	full     string
	tree     string
	refs     []string
	previous string // tree of the previous published revision, or ""
}

// Check decides on a push. An error means the push could not be checked
// (and must be refused); a refusal is a Decision with Accept false.
func (c *Checker) Check(ctx context.Context, p *Push) (*Decision, error) {
	b, err := p.Repo.NewBatch(ctx)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	k := &check{Checker: c, ctx: ctx, push: p, cfg: p.Config.Normalize(), batch: b, pkgs: map[string]*pkgToValidate{}, pushedTags: map[string]string{},
		tagCache: map[string][]gitrepo.Ref{}, ancestors: map[string]bool{}, objs: newObjects()}
	d, err := k.run()
	if ctxErr := ctx.Err(); ctxErr != nil {
		// Whatever was read after the context ended failed for that
		// reason alone: findings of a cut-short read are not the push's.
		// Only a deadline is a timeout; a cancellation (the pusher went
		// away, the server stops) is told as what it is.
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: %w", ErrTimeout, ctxErr)
		}
		return nil, fmt.Errorf("the decision was cancelled: %w", ctxErr)
	}
	return d, err
}

func (k *check) refuse(ref, format string, args ...any) {
	k.refused = append(k.refused, fmt.Sprintf("pkgserver: refused %s: %s", ref, fmt.Sprintf(format, args...)))
}

func (k *check) run() (*Decision, error) {
	branchRef := revision.BranchesPrefix + k.cfg.Branch
	// Through the batch already open: a ref resolves like an object name.
	switch tip, err := k.batch.Info(branchRef); {
	case errors.Is(err, gitrepo.ErrObjectNotFound):
		k.branchTip = ""
	case err != nil:
		return nil, err
	default:
		k.branchTip = tip.ID
	}
	branchBefore := k.branchTip
	if err := k.prefetch(); err != nil {
		return nil, err
	}
	for _, u := range k.push.Updates {
		if u.Ref == branchRef {
			k.branchTip = u.New
			if u.New == revision.ZeroID {
				k.branchTip = ""
			}
		}
	}
	k.conflicts()
	var tags []tagUpdate
	for _, u := range k.push.Updates {
		if err := gitrepo.ValidateRefName(u.Ref); err != nil {
			k.refuse(u.Ref, "%v", err)
			continue
		}
		src, ok, err := k.cfg.ParseRef(u.Ref)
		switch {
		case err != nil:
			k.refuse(u.Ref, "%v", err)
		case !ok:
			if err := k.otherRef(u); err != nil {
				return nil, err
			}
		case src.Kind == revision.KindBranch:
			if err := k.branch(u); err != nil {
				return nil, err
			}
		case src.Kind == revision.KindDraft || src.Kind == revision.KindProposed:
			if err := k.workspace(u, src); err != nil {
				return nil, err
			}
		case src.Kind == revision.KindDeletionProposed:
			tags = append(tags, tagUpdate{RefUpdate: u, src: src, deletionProposal: true})
		case src.Kind == revision.KindTag:
			tags = append(tags, tagUpdate{RefUpdate: u, src: src})
		}
	}
	if err := k.tags(tags); err != nil {
		return nil, err
	}
	if len(k.refused) == 0 {
		if err := k.indexable(); err != nil {
			return nil, err
		}
	}
	if len(k.refused) == 0 {
		if err := k.visible(branchBefore); err != nil {
			return nil, err
		}
	}
	d := &Decision{}
	if len(k.refused) == 0 && (len(k.pkgs) > 0 || k.policiesChanged) {
		lines, errs, n, err := k.validate(d)
		if err != nil {
			return nil, err
		}
		d.Lines, d.Validated = append(d.Lines, lines...), n
		if errs > 0 {
			k.refused = append(k.refused, fmt.Sprintf("pkgserver: refused: %s in the pushed packages; nothing was updated", result.Plural(errs, "validation error")))
		}
	}
	d.Lines = append(d.Lines, k.notes...)
	d.Lines = append(d.Lines, k.refused...)
	d.Refused = k.refused
	d.Accept = len(k.refused) == 0
	return d, nil
}

// conflicts refuses pushes git would apply only in part: git updates refs
// one by one, so a ref named twice, or a ref that is a directory of
// another (refs/tags/p/v2 and refs/tags/p/v2/x), would fail alone while
// the rest landed, and the rules were checked for the whole.
func (k *check) conflicts() {
	seen := map[string]bool{}
	for _, u := range k.push.Updates {
		if seen[u.Ref] {
			k.refuse(u.Ref, "the ref is updated twice in one push")
		}
		seen[u.Ref] = true
	}
	for _, u := range k.push.Updates {
		for i := len("refs/"); i < len(u.Ref); i++ {
			if u.Ref[i] == '/' && seen[u.Ref[:i]] {
				k.refuse(u.Ref, "%s, pushed with it, would be its directory", u.Ref[:i])
			}
		}
		if u.Old != revision.ZeroID || u.New == revision.ZeroID {
			continue
		}
		// A new ref below an existing one, or an existing ref's directory.
		for i := len("refs/heads/"); i < len(u.Ref); i++ {
			if u.Ref[i] != '/' {
				continue
			}
			if k.refExists(u.Ref[:i]) && !seen[u.Ref[:i]] {
				k.refuse(u.Ref, "the ref %s exists and would be its directory", u.Ref[:i])
			}
		}
	}
}

// otherRef handles refs outside the git contract: other branches have the
// packages they change validated; other refs pass.
func (k *check) otherRef(u revision.RefUpdate) error {
	if !strings.HasPrefix(u.Ref, revision.BranchesPrefix) || u.New == revision.ZeroID {
		return nil
	}
	base := u.Old
	if base == revision.ZeroID {
		base = ""
		if k.branchTip != "" {
			mb, err := k.mergeBase(u.New)
			if err != nil {
				return err
			}
			base = mb
		}
	}
	return k.changedPackages(u.Ref, base, u.New)
}

// branch handles the repository branch: never deleted, rewritten only by
// admins, its policies changed only by admins, and every package it adds
// or changes validated.
func (k *check) branch(u revision.RefUpdate) error {
	if u.New == revision.ZeroID {
		k.refuse(u.Ref, "the repository branch %s cannot be deleted", k.cfg.Branch)
		return nil
	}
	oldPol := ""
	if u.Old != revision.ZeroID {
		ff, err := k.push.Repo.IsAncestor(k.ctx, u.Old, u.New)
		if err != nil {
			return err
		}
		if !ff && k.push.Role != store.RoleAdmin {
			k.refuse(u.Ref, "not a fast-forward: rewriting the repository branch takes the admin role (published revisions are commits of it)")
			return nil
		}
		if oldPol, err = k.treeID(u.Old, PoliciesDir); err != nil {
			return err
		}
	}
	newPol, err := k.treeID(u.New, PoliciesDir)
	if err != nil {
		return err
	}
	if oldPol != newPol {
		// Creating the branch (the first push of a repository) does not
		// take the admin role; its policies are compiled all the same.
		if u.Old != revision.ZeroID && k.push.Role != store.RoleAdmin {
			k.refuse(u.Ref, "changing %s takes the admin role", PoliciesDir)
			return nil
		}
		k.policiesChanged = true
	}
	base := u.Old
	if base == revision.ZeroID {
		base = ""
	}
	return k.changedPackages(u.Ref, base, u.New)
}

// workspace handles a draft or proposal branch: it must hold the package it
// names, which is validated when it changed.
func (k *check) workspace(u revision.RefUpdate, src revision.Source) error {
	if u.New == revision.ZeroID {
		return nil
	}
	full := k.cfg.Full(src.Package)
	tree, err := k.packageTree(u.New, full)
	if err != nil {
		return err
	}
	if tree == "" {
		k.refuse(u.Ref, "the branch names package %s, but its commit has no %s/Kptfile", full, full)
		return nil
	}
	if u.Old != revision.ZeroID {
		if old, err := k.treeID(u.Old, full); err == nil && old == tree {
			return nil // the package did not change
		} else if err != nil {
			return err
		}
	}
	prev, err := k.latestPublished(full, 0)
	if err != nil {
		return err
	}
	k.addPackage(full, tree, u.Ref, prev)
	return nil
}

type tagUpdate struct {
	revision.RefUpdate
	src              revision.Source
	deletionProposal bool
}

// tags handles published tags and deletion proposals: tags never move and
// are deleted only by admins; a new v<N> takes exactly the next N, sits on
// the repository branch and holds a valid package; a deletion proposal
// names a published revision.
func (k *check) tags(updates []tagUpdate) error {
	created := map[string][]tagUpdate{} // new v<N> tags by package
	// Admins may delete, move and name tags below a revision-like segment;
	// nobody may create a package tag the index would never count.
	admin := k.push.Role == store.RoleAdmin
	for _, t := range updates {
		full := k.cfg.Full(t.src.Package)
		switch {
		case t.deletionProposal:
			if t.New == revision.ZeroID {
				continue
			}
			tag := revision.TagsPrefix + full + "/" + t.src.Revision
			exists, err := k.tagExists(tag, updates)
			if err != nil {
				return err
			}
			if !exists {
				k.refuse(t.Ref, "proposes deleting %s/%s, which is not published", full, t.src.Revision)
			}
		case t.New != revision.ZeroID && !admin && revisionLikeSegment(t.src.Package):
			// refs/tags/p/v2/x would keep p/v2 from ever being published.
			k.refuse(t.Ref, "a tag's package path must not have a segment like a revision (v<N>)")
		case t.New != revision.ZeroID && revision.LooksLikeRevision(t.src.Revision) && k.isPackageTag(t):
			// It would be listed as a revision and never counted. Where
			// the path names no package (release/V3) it is no revision
			// at all, and left alone below.
			k.refuse(t.Ref, "a package tag's revision is v<N>, N a positive integer without leading zeros, not %q", t.src.Revision)
		case t.src.Number == 0 && !k.isPackageTag(t):
			// A tag with a slash that names no package (release/2024-01):
			// not a revision, not pkgserver's to judge.
		case t.New == revision.ZeroID:
			if !admin {
				k.refuse(t.Ref, "published revisions are deleted only by admins, by approving a deletion proposal")
			}
		case t.Old != revision.ZeroID:
			if !admin {
				k.refuse(t.Ref, "published revisions are immutable: the tag cannot be moved")
				continue
			}
			k.notes = append(k.notes, fmt.Sprintf("pkgserver: warning: %s moved by an admin", t.Ref))
			if err := k.taggedPackage(t, 0); err != nil {
				return err
			}
		case t.src.Number == 0:
			// A tag of another shape (v1.2.0, latest): listed, never
			// counted; its package is validated.
			if err := k.taggedPackage(t, 0); err != nil {
				return err
			}
		default:
			created[full] = append(created[full], t)
		}
	}
	for _, full := range slices.Sorted(maps.Keys(created)) {
		ts := created[full]
		sort.Slice(ts, func(i, j int) bool { return ts[i].src.Number < ts[j].src.Number })
		existing, err := k.tagRefs(full)
		if err != nil {
			return err
		}
		var nums []int
		for _, r := range existing {
			if rest := strings.TrimPrefix(r.Name, revision.TagsPrefix+full+"/"); !strings.Contains(rest, "/") {
				if n := revision.ParseRevisionNumber(rest); n > 0 {
					nums = append(nums, n)
				}
			}
		}
		next := revision.NextRevision(nums)
		below, err := k.tagsUnder(full, len(created) > bulkTagLookups)
		if err != nil {
			return err
		}
		// Only refs deeper than a tag of the package can be below one.
		below = slices.DeleteFunc(slices.Clone(below), func(r gitrepo.Ref) bool {
			return !strings.Contains(strings.TrimPrefix(r.Name, revision.TagsPrefix+full+"/"), "/")
		})
		for _, t := range ts {
			if i := slices.IndexFunc(below, func(r gitrepo.Ref) bool { return strings.HasPrefix(r.Name, t.Ref+"/") }); i >= 0 {
				k.refuse(t.Ref, "the ref %s exists below it: an admin must delete it first", below[i].Name)
				continue
			}
			if t.src.Number != next {
				k.refuse(t.Ref, "the next revision of %s is v%d, not v%d", full, next, t.src.Number)
				continue
			}
			if err := k.taggedPackage(t, next-1); err != nil {
				return err
			}
			next++
		}
	}
	return nil
}

// taggedPackage checks what a tag points at: a commit of the repository
// branch holding the package, which is then validated. prevN is the
// revision whose resources policies see as old ones (0: the latest).
func (k *check) taggedPackage(t tagUpdate, prevN int) error {
	full := k.cfg.Full(t.src.Package)
	commit, err := k.peel(t.New)
	if err != nil {
		k.refuse(t.Ref, "%v", err)
		return nil
	}
	if k.branchTip == "" {
		k.refuse(t.Ref, "the repository branch %s does not exist", k.cfg.Branch)
		return nil
	}
	on, err := k.onBranch(commit)
	if err != nil {
		return err
	}
	if !on {
		k.refuse(t.Ref, "a published revision is a commit of the repository branch %s; push the commit to %s first (or with the tag)", k.cfg.Branch, k.cfg.Branch)
		return nil
	}
	tree, err := k.packageTree(commit, full)
	if err != nil {
		return err
	}
	if tree == "" {
		k.refuse(t.Ref, "the tagged commit has no package %s (no %s/Kptfile)", full, full)
		return nil
	}
	prev, ok := k.pushedTags[full+"/"+revision.FormatRevision(prevN)]
	if !ok {
		if prev, err = k.latestPublished(full, prevN); err != nil {
			return err
		}
	}
	if t.Old == revision.ZeroID && t.src.Number > 0 {
		k.pushedTags[full+"/"+t.src.Revision] = tree
	}
	k.addPackage(full, tree, t.Ref, prev)
	return nil
}

// isPackageTag tells whether a tag of another shape than v<N> names a
// package: its old or its new commit holds <full>/Kptfile.
func (k *check) isPackageTag(t tagUpdate) bool {
	full := k.cfg.Full(t.src.Package)
	for _, id := range []string{t.Old, t.New} {
		if id == revision.ZeroID {
			continue
		}
		commit, err := k.peel(id)
		if err != nil {
			continue
		}
		if tree, err := k.packageTree(commit, full); err == nil && tree != "" {
			return true // it names a package before or after: the rules hold
		}
	}
	return false
}

// revisionLikeSegment tells whether a package path has a segment v<N>.
func revisionLikeSegment(pkg string) bool {
	for _, seg := range strings.Split(pkg, "/") {
		if revision.ParseRevisionNumber(seg) > 0 {
			return true
		}
	}
	return false
}

// peel returns the commit an object leads to, through annotated tags.
func (k *check) peel(id string) (string, error) {
	if err := k.readObjects([]string{id}); err != nil {
		return "", err
	}
	p, ok := k.objs.peeled[id]
	if !ok {
		return "", fmt.Errorf("object %s: %w", id, gitrepo.ErrObjectNotFound)
	}
	return p.commit, p.err
}

// tagExists tells whether a tag exists, or is created by this push.
func (k *check) tagExists(tag string, updates []tagUpdate) (bool, error) {
	for _, t := range updates {
		if t.Ref == tag {
			return t.New != revision.ZeroID, nil
		}
	}
	_, err := k.batch.Info(tag)
	if errors.Is(err, gitrepo.ErrObjectNotFound) {
		return false, nil
	}
	return err == nil, err
}

// bulkTagLookups is how many packages' tags are listed one package at a
// time; past it, every tag of the repository is listed once (a push of
// many packages would otherwise start a git process per package).
const bulkTagLookups = 8

// tagRefs returns the tags of a package, refs/tags/<full>/<name>.
func (k *check) tagRefs(full string) ([]gitrepo.Ref, error) {
	refs, err := k.tagsUnder(full, false)
	if err != nil {
		return nil, err
	}
	prefix := revision.TagsPrefix + full + "/"
	var direct []gitrepo.Ref
	for _, r := range refs {
		if !strings.Contains(strings.TrimPrefix(r.Name, prefix), "/") {
			direct = append(direct, r)
		}
	}
	return direct, nil
}

// tagsUnder returns the tags below a package's path, refs/tags/<full>/…:
// listed for the package alone for the first few packages asked about
// (unless many are), then taken from the decision's one sorted listing of
// every tag.
func (k *check) tagsUnder(full string, many bool) ([]gitrepo.Ref, error) {
	if refs, ok := k.listedTags(full); ok {
		return refs, nil
	}
	prefix := revision.TagsPrefix + full + "/"
	if !many {
		if k.tagLookups < bulkTagLookups {
			k.tagLookups++
			refs, err := k.push.Repo.RefsUnder(k.ctx, prefix)
			if err != nil {
				return nil, err
			}
			k.tagCache[full] = refs
			return refs, nil
		}
	}
	if _, err := k.allTags(); err != nil {
		return nil, err
	}
	refs, _ := k.listedTags(full)
	return refs, nil
}

// listedTags returns the tags below a package's path if the decision has
// listed them already (ok false: not yet).
func (k *check) listedTags(full string) (refs []gitrepo.Ref, ok bool) {
	if k.everyTag == nil {
		refs, ok = k.tagCache[full]
		return refs, ok
	}
	prefix := revision.TagsPrefix + full + "/"
	i, _ := slices.BinarySearchFunc(k.everyTag, prefix, func(r gitrepo.Ref, p string) int { return strings.Compare(r.Name, p) })
	j := i
	for j < len(k.everyTag) && strings.HasPrefix(k.everyTag[j].Name, prefix) {
		j++
	}
	return k.everyTag[i:j], true
}

// allTags lists every tag of the repository, sorted by name, once per
// decision.
func (k *check) allTags() ([]gitrepo.Ref, error) {
	if k.everyTag == nil {
		all, err := k.push.Repo.RefsUnder(k.ctx, revision.TagsPrefix)
		if err != nil {
			return nil, err
		}
		slices.SortFunc(all, func(a, b gitrepo.Ref) int { return strings.Compare(a.Name, b.Name) })
		k.everyTag = append(all, gitrepo.Ref{})[:len(all)] // not nil: listed
	}
	return k.everyTag, nil
}

// onBranch tells whether a commit is on the repository branch after the
// push; many tags of one push share a commit, which is asked about once.
func (k *check) onBranch(commit string) (bool, error) {
	if on, ok := k.ancestors[commit]; ok {
		return on, nil
	}
	outside, err := k.outsideBranch()
	if err != nil {
		return false, err
	}
	if !k.heads[commit] {
		// Not a commit of the push's refs: asked about alone.
		on, err := k.push.Repo.IsAncestor(k.ctx, commit, k.branchTip)
		if err == nil {
			k.ancestors[commit] = on
		}
		return on, err
	}
	_, out := outside[commit]
	k.ancestors[commit] = !out
	return !out, nil
}

// latestPublished returns the tree of a package's published revision v<n>
// (n 0: the highest), "" if there is none.
func (k *check) latestPublished(full string, n int) (string, error) {
	if k.noPrevious || !k.needPrevious() {
		return "", nil
	}
	refs, err := k.tagRefs(full)
	if err != nil {
		return "", err
	}
	best, commit := 0, ""
	for _, r := range refs {
		m := revision.ParseRevisionNumber(strings.TrimPrefix(r.Name, revision.TagsPrefix+full+"/"))
		if m > 0 && ((n == 0 && m > best) || m == n) {
			best, commit = m, r.Commit
		}
	}
	if commit == "" {
		return "", nil
	}
	return k.packageTree(commit, full)
}

// changedPackages queues the packages whose trees differ between two
// commits (base "" : every package of head). Work is proportional to the
// change: unchanged subtrees are not entered.
func (k *check) changedPackages(ref, base, head string) error {
	root := k.cfg.Directory
	var baseTree string
	if base != "" {
		var err error
		if baseTree, err = k.treeID(base, root); err != nil {
			return err
		}
	}
	headTree, err := k.treeID(head, root)
	if err != nil || headTree == "" {
		return err
	}
	return k.walkChanged(ref, root, baseTree, headTree)
}

// walkChanged descends two trees in step: a directory holding a Kptfile is
// a package (validated whole when its tree changed); others are entered
// only where they differ.
func (k *check) walkChanged(ref, dir, baseTree, headTree string) error {
	if baseTree == headTree {
		return nil
	}
	headEntries, err := k.entries(headTree)
	if err != nil {
		return err
	}
	isPkg := slices.ContainsFunc(headEntries, func(e gitrepo.TreeEntry) bool { return e.Name == "Kptfile" && e.IsBlob() })
	if isPkg && dir != k.cfg.Directory {
		prev, err := k.latestPublished(dir, 0)
		if err != nil {
			return err
		}
		k.addPackage(dir, headTree, ref, prev)
		return nil
	}
	var baseEntries []gitrepo.TreeEntry
	if baseTree != "" {
		if baseEntries, err = k.entries(baseTree); err != nil {
			return err
		}
	}
	old := map[string]string{}
	for _, e := range baseEntries {
		if e.IsTree() {
			old[e.Name] = e.ID
		}
	}
	for _, e := range headEntries {
		if !e.IsTree() || (dir == "" && strings.HasPrefix(e.Name, ".")) {
			continue
		}
		if err := k.walkChanged(ref, joinPath(dir, e.Name), old[e.Name], e.ID); err != nil {
			return err
		}
	}
	return nil
}

func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

func (k *check) entries(tree string) ([]gitrepo.TreeEntry, error) {
	if e, ok := k.objs.entries[tree]; ok {
		return e, nil
	}
	obj, err := k.batch.Read(tree)
	if err != nil {
		return nil, err
	}
	if obj.Type != "tree" {
		return nil, fmt.Errorf("object %s is a %s, not a tree", tree, obj.Type)
	}
	e, err := gitrepo.ParseTree(obj.Data)
	if err == nil {
		k.objs.entries[tree] = e
	}
	return e, err
}

// treeID returns the id of the tree at path in a commit, "" if there is
// none.
func (k *check) treeID(commit, path string) (string, error) {
	if err := k.readObjects([]string{commit}); err != nil {
		return "", err
	}
	root, ok := k.objs.roots[commit]
	if !ok {
		// Not a commit: git resolves the path as it can.
		id, err := k.batch.TreeID(commit, path)
		if errors.Is(err, gitrepo.ErrObjectNotFound) {
			return "", nil
		}
		return id, err
	}
	if path == "" {
		return root, nil
	}
	key := [2]string{root, path}
	if id, ok := k.objs.paths[key]; ok {
		return id, nil
	}
	id, err := k.batch.TreeID(root, path)
	if errors.Is(err, gitrepo.ErrObjectNotFound) {
		id, err = "", nil
	}
	if err == nil {
		k.objs.paths[key] = id
	}
	return id, err
}

// packageTree returns the tree of a package in a commit, "" if the commit
// has no Kptfile there.
func (k *check) packageTree(commit, full string) (string, error) {
	tree, err := k.treeID(commit, full)
	if err != nil || tree == "" {
		return "", err
	}
	entries, err := k.entries(tree)
	if err != nil {
		return "", err
	}
	if !slices.ContainsFunc(entries, func(e gitrepo.TreeEntry) bool { return e.Name == "Kptfile" && e.IsBlob() }) {
		return "", nil
	}
	return tree, nil
}

func (k *check) addPackage(full, tree, ref, previous string) {
	key := full + "\x00" + tree
	if p, ok := k.pkgs[key]; ok {
		p.refs = append(p.refs, ref)
		return
	}
	k.pkgs[key] = &pkgToValidate{full: full, tree: tree, refs: []string{ref}, previous: previous}
	k.order = append(k.order, key)
}

// engine returns the engine of the repository's policies as of the branch
// after the push; an error is a problem of those policies.
func (k *check) engine() (*validate.Engine, error) {
	if k.eng == nil && k.engErr == nil {
		policies := ""
		if k.branchTip != "" {
			if policies, k.engErr = k.treeID(k.branchTip, PoliciesDir); k.engErr != nil {
				return nil, k.engErr
			}
		}
		k.eng, k.engErr = k.Engines.Engine(k.ctx, k.push.Repo, k.batch, policies)
	}
	return k.eng, k.engErr
}

// needPrevious tells whether previous revisions matter to validation:
// only policies that look at oldObject or tell updates from creations
// make them worth looking up.
func (k *check) needPrevious() bool {
	e, err := k.engine()
	return err != nil || e.UsesPrevious()
}

// validate runs the engine over the queued packages with the repository's
// policies as of the branch after the push.
func (k *check) validate(d *Decision) (lines []string, errs, n int, err error) {
	engine, err := k.engine()
	if err != nil {
		r := result.Result{Severity: result.Error, Message: err.Error(), File: &result.File{Path: PoliciesDir}, Check: "policies"}
		d.Results = append(d.Results, r)
		k.checked(d, []result.Result{r})
		return []string{"pkgserver: " + err.Error()}, 1, 0, nil
	}
	var pkgs []validate.Package
	for _, key := range k.order {
		p := k.pkgs[key]
		fsys, err := k.push.Repo.TreeFS(k.batch, p.tree)
		if err != nil {
			return nil, 0, 0, err
		}
		vp := validate.Package{Path: p.full, FS: fsys}
		if p.previous != "" && p.previous != p.tree {
			if vp.Previous, err = k.push.Repo.TreeFS(k.batch, p.previous); err != nil {
				return nil, 0, 0, err
			}
		}
		pkgs = append(pkgs, vp)
		d.Packages = append(d.Packages, p.full)
	}
	report := &validate.Report{}
	for i, r := range engine.ValidateEach(k.ctx, pkgs) {
		p := k.pkgs[k.order[i]]
		d.Checked = append(d.Checked, CheckedPackage{Full: p.full, Tree: p.tree, Results: r.Results})
		report.Packages += r.Packages
		report.Resources += r.Resources
		report.Results = append(report.Results, r.Results...)
	}
	d.Results = append(d.Results, report.Results...)
	for _, r := range report.Results {
		if r.Severity == result.Error {
			errs++
		}
		lines = append(lines, validate.Line(r))
	}
	e, w, _ := report.Counts()
	lines = append(lines, fmt.Sprintf("pkgserver: validated %s: %s, %s", result.Plural(len(pkgs), "package"), result.Plural(e, "error"), result.Plural(w, "warning")))
	return lines, errs, len(pkgs), nil
}

// checked records each package queued, with findings that concern them
// all.
func (k *check) checked(d *Decision, results []result.Result) {
	for _, key := range k.order {
		p := k.pkgs[key]
		d.Checked = append(d.Checked, CheckedPackage{Full: p.full, Tree: p.tree, Results: results})
	}
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
	k := &check{ctx: ctx, push: &Push{Repo: repo, Config: cfg}, cfg: cfg.Normalize(), batch: b, pkgs: map[string]*pkgToValidate{},
		tagCache: map[string][]gitrepo.Ref{}, ancestors: map[string]bool{}, noPrevious: true, objs: newObjects()}
	if err := k.changedPackages("", base, head); err != nil {
		return nil, err
	}
	var out []string
	for _, key := range k.order {
		out = append(out, k.pkgs[key].full)
	}
	return out, nil
}

// ValidateAt validates packages (paths from the repository's root) as a
// commit holds them, with the repository's policies as of branchTip; those
// the commit does not hold are left out. Policies that do not compile are
// an error.
func (c *Checker) ValidateAt(ctx context.Context, repo *gitrepo.Repo, cfg revision.Config, branchTip, commit string, fulls []string) (*Decision, error) {
	b, err := repo.NewBatch(ctx)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	return c.ValidateWith(ctx, repo, b, cfg, branchTip, commit, fulls)
}

// ValidateWith is ValidateAt reading through a batch the caller has open.
// A context that ends midway is an error (wrapping the context's), never
// findings of the reads it cut short.
func (c *Checker) ValidateWith(ctx context.Context, repo *gitrepo.Repo, b *gitrepo.Batch, cfg revision.Config, branchTip, commit string, fulls []string) (*Decision, error) {
	d, err := c.validateWith(ctx, repo, b, cfg, branchTip, commit, fulls)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return nil, fmt.Errorf("validation cut short: %w", ctxErr)
	}
	return d, err
}

func (c *Checker) validateWith(ctx context.Context, repo *gitrepo.Repo, b *gitrepo.Batch, cfg revision.Config, branchTip, commit string, fulls []string) (*Decision, error) {
	k := &check{Checker: c, ctx: ctx, push: &Push{Repo: repo, Config: cfg, Role: store.RoleAdmin}, cfg: cfg.Normalize(), batch: b,
		pkgs: map[string]*pkgToValidate{}, pushedTags: map[string]string{}, tagCache: map[string][]gitrepo.Ref{}, ancestors: map[string]bool{},
		branchTip: branchTip, objs: newObjects()}
	// Policies that cannot be read or compiled are an error here, not a
	// finding: what is decided on them (a publication) waits for them.
	if _, err := k.engine(); err != nil {
		return nil, fmt.Errorf("the repository's policies: %w", err)
	}
	for _, full := range fulls {
		tree, err := k.packageTree(commit, full)
		if err != nil {
			return nil, err
		}
		if tree == "" {
			continue
		}
		prev, err := k.latestPublished(full, 0)
		if err != nil {
			return nil, err
		}
		k.addPackage(full, tree, commit, prev)
	}
	d := &Decision{Accept: true}
	if len(k.pkgs) == 0 {
		return d, nil
	}
	lines, errs, n, err := k.validate(d)
	if err != nil {
		return nil, err
	}
	d.Lines, d.Validated, d.Accept = lines, n, errs == 0
	return d, nil
}
