package revision

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Lifecycle is the lifecycle of a package revision.
type Lifecycle string

// The lifecycles of the git contract.
const (
	Draft            Lifecycle = "Draft"
	Proposed         Lifecycle = "Proposed"
	Published        Lifecycle = "Published"
	DeletionProposed Lifecycle = "DeletionProposed"
)

// Observation is a ref resolved against git: for one package, what the
// ref's commit holds. The branch gives one observation per package it holds.
type Observation struct {
	Source
	// Commit is the commit the ref leads to; for the branch, the newest
	// first-parent commit of the branch that changed the package.
	Commit string
	// Tree is the package's tree in Commit, "" when Commit does not hold it.
	Tree string
	// Problem says why the package in Commit cannot be indexed (a Kptfile
	// below its root, a file name git should not have accepted).
	Problem string
	// By is who published: the tagger of an annotated tag, else the
	// committer of Commit; "" for drafts and proposals, which are not
	// published. At is when the ref's object was made: the tagger's time of
	// an annotated tag, else the committer's time of Commit.
	By string
	At time.Time
	// PublishedWorkspace is the workspace a publish record in the tag's or
	// the commit's message names for this package and revision (see
	// PublishedWorkspace), "" if none.
	PublishedWorkspace string
	// PullRequest is the number of the pull or merge request: for a tag,
	// the one a publish record names (merged from it); for a draft or a
	// proposal, an open one of its branch into the repository branch.
	PullRequest int
}

// Revision is a package revision as the contract derives it.
type Revision struct {
	Name      string
	Package   string
	Workspace string
	// Revision is v<N>, another tag's last segment, the branch name, or ""
	// for drafts and proposals; Number is N for v<N>.
	Revision  string
	Number    int
	Lifecycle Lifecycle
	// Ref is the ref the revision comes from; DeletionRef the deletion
	// proposal branch of a DeletionProposed revision.
	Ref         string
	DeletionRef string
	Commit      string
	Tree        string
	PublishedBy string
	PublishedAt time.Time
	// CreatedAt is when git says the revision was made (its Observation's
	// At): a published revision's PublishedAt, a draft's or proposal's
	// newest commit.
	CreatedAt time.Time
	// Latest marks the highest published v<N> of the package.
	Latest bool
	// PullRequest is the number of the pull or merge request that proposes
	// the revision, or that it was published from.
	PullRequest int
}

// Problem is a ref or package that is not indexed, and why.
type Problem struct {
	Ref     string
	Package string
	Message string
}

func (p Problem) String() string {
	if p.Ref == "" {
		return p.Message
	}
	return p.Ref + ": " + p.Message
}

// Derive turns the observations of a repository's packages into package
// revisions, following the git contract: drafts, proposals, published tags
// (v<N> and other shapes), deletion proposals overriding the Published state
// of their revision, and one revision per package at the head of the branch.
// Object names are unique: when two refs of a package would take the same
// name, the one of the earlier kind (tag, branch, proposed, draft) keeps it
// and the other is a problem. The result is sorted by package, then kind,
// number and name.
func Derive(cfg Config, obs []Observation) ([]Revision, []Problem) {
	cfg = cfg.Normalize()
	byPkg := map[string][]Observation{}
	for _, o := range obs {
		byPkg[o.Package] = append(byPkg[o.Package], o)
	}
	var revs []Revision
	var problems []Problem
	for _, pkg := range slices.Sorted(maps.Keys(byPkg)) {
		r, p := derivePackage(cfg, pkg, byPkg[pkg])
		revs = append(revs, r...)
		problems = append(problems, p...)
	}
	slices.SortFunc(problems, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Package, b.Package), cmp.Compare(a.Ref, b.Ref), cmp.Compare(a.Message, b.Message))
	})
	return revs, problems
}

// DerivePackage derives the revisions of one package from all of its
// observations; see Derive.
func DerivePackage(cfg Config, pkg string, obs []Observation) ([]Revision, []Problem) {
	return derivePackage(cfg.Normalize(), pkg, obs)
}

func derivePackage(cfg Config, pkg string, obs []Observation) ([]Revision, []Problem) {
	var problems []Problem
	report := func(o Observation, format string, args ...any) {
		problems = append(problems, Problem{Ref: o.Ref, Package: pkg, Message: fmt.Sprintf(format, args...)})
	}
	// Claim names in the contract's order; within a kind, by number, then
	// ref name, so that the outcome never depends on the input's order.
	obs = slices.Clone(obs)
	slices.SortFunc(obs, func(a, b Observation) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(numberOrder(a), numberOrder(b)), cmp.Compare(a.Ref, b.Ref))
	})
	var revs []Revision
	taken := map[string]string{} // name -> ref
	deletions := map[int]Observation{}
	for _, o := range obs {
		if o.Kind == KindDeletionProposed {
			deletions[o.Number] = o
			continue
		}
		if o.Problem != "" {
			report(o, "%s", o.Problem)
			continue
		}
		if o.Tree == "" {
			report(o, "the commit %s does not contain package %s", short(o.Commit), cfg.Full(pkg))
			continue
		}
		r := Revision{Package: pkg, Ref: o.Ref, Commit: o.Commit, Tree: o.Tree, CreatedAt: o.At}
		switch o.Kind {
		case KindTag:
			r.Lifecycle, r.Revision, r.Number = Published, o.Revision, o.Number
			r.PublishedBy, r.PublishedAt, r.PullRequest = o.By, o.At, o.PullRequest
			switch {
			case o.Number > 0 && o.PublishedWorkspace != "":
				r.Workspace = o.PublishedWorkspace
			case o.Number > 0:
				r.Workspace = o.Revision
			default:
				r.Workspace = LabelFrom(o.Revision)
			}
		case KindBranch:
			r.Lifecycle, r.Revision, r.Workspace = Published, o.Revision, o.Workspace
			r.PublishedBy, r.PublishedAt = o.By, o.At
		case KindProposed:
			r.Lifecycle, r.Workspace, r.PullRequest = Proposed, o.Workspace, o.PullRequest
		case KindDraft:
			r.Lifecycle, r.Workspace = Draft, o.Workspace
			if o.PullRequest > 0 {
				// A draft with an open pull request into the branch is
				// proposed.
				r.Lifecycle, r.PullRequest = Proposed, o.PullRequest
			}
		}
		if r.Workspace == "" {
			report(o, "no workspace name can be derived from %q", o.Revision)
			continue
		}
		r.Name = ObjectName(cfg.Repository, pkg, r.Workspace)
		if len(r.Name) > maxNameLength {
			report(o, "object name %s is longer than %d characters", r.Name, maxNameLength)
			continue
		}
		if other, dup := taken[r.Name]; dup {
			report(o, "workspace %q of package %s is already used by %s", r.Workspace, pkg, other)
			continue
		}
		taken[r.Name] = o.Ref
		revs = append(revs, r)
	}
	// A deletion proposal overrides the Published state of its revision.
	for _, n := range slices.Sorted(maps.Keys(deletions)) {
		o := deletions[n]
		i := slices.IndexFunc(revs, func(r Revision) bool { return r.Lifecycle == Published && r.Number == n })
		if i < 0 {
			report(o, "proposes the deletion of %s/%s, which is not published", cfg.Full(pkg), o.Revision)
			continue
		}
		revs[i].Lifecycle = DeletionProposed
		revs[i].DeletionRef = o.Ref
	}
	latest := -1
	for i, r := range revs {
		if r.Lifecycle == Published && r.Number > 0 && (latest < 0 || r.Number > revs[latest].Number) {
			latest = i
		}
	}
	if latest >= 0 {
		revs[latest].Latest = true
	}
	return revs, problems
}

func numberOrder(o Observation) int {
	if o.Kind == KindTag && o.Number == 0 {
		return 1 << 30 // other tag shapes after every v<N>
	}
	return o.Number
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}
