package hooks

import (
	"context"
	"errors"
	"fmt"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/observe"
	"github.com/pkgserver/pkgserver/internal/pkgcheck"
	"github.com/pkgserver/pkgserver/internal/result"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// Push is what a pre-receive hook decides on.
type Push struct {
	// Repo reads the repository through the push's quarantine.
	Repo   *gitrepo.Repo
	Config revision.Config
	// Role is the pusher's role in the repository's namespace.
	Role    store.Role
	Updates []revision.RefUpdate
	// Rules are what the repository asks of its packages beyond its
	// policies (pkgcheck.RulesOf its registration).
	Rules pkgcheck.Rules
}

// Decision is the outcome: whether every update of the push may go on, and
// what to tell the pusher, line by line.
type Decision struct {
	// Report is the validation of the packages the push adds or
	// changes; its Accept and Lines are those of the whole push, the
	// rules' lines included.
	pkgcheck.Report
	// Refused holds the rules the push broke, one line each.
	Refused []string
}

// Checker decides on pushes: the ref rules, then the packages validated.
type Checker struct {
	// Packages validates the packages a push adds or changes.
	Packages *pkgcheck.Service
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
	// pkgs are the packages to validate, by path and tree id; val
	// validates them with the policies of the branch after the push.
	pkgs  map[string]*pkgToValidate
	order []string
	val   *pkgcheck.Run
	// branchTip is the repository branch after the push ("": none).
	branchTip string
	// policiesChanged is set when the push changes the policies of the
	// repository branch: they are compiled even if no package changed.
	policiesChanged bool
	// pushedTags holds the package trees of the v<N> tags this push
	// creates, by <full>/v<N>: the previous revision of the next one.
	pushedTags map[string]string
	// tagList lists the tags below packages' paths; ancestors tells
	// whether commits are on the branch.
	tagList   *pkgcheck.Tags
	ancestors map[string]bool
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
}

type pkgToValidate struct {
	full string
	tree string
	refs []string
}

// Check decides on a push. An error means the push could not be checked
// (and must be refused); a refusal is a Decision with Accept false.
func (c *Checker) Check(ctx context.Context, p *Push) (*Decision, error) {
	b, err := p.Repo.NewBatch(ctx)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	d, err := c.decide(ctx, p, b)
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

// decide reads the repository branch before and after the push, starts
// the push's check with it (the packages validated with the policies of
// the branch after the push), and decides.
func (c *Checker) decide(ctx context.Context, p *Push, b *gitrepo.Batch) (*Decision, error) {
	cfg := p.Config.Normalize()
	branchRef := revision.BranchesPrefix + cfg.Branch
	before := ""
	// Through the batch: a ref resolves like an object name.
	switch tip, err := b.Info(branchRef); {
	case errors.Is(err, gitrepo.ErrObjectNotFound):
	case err != nil:
		return nil, err
	default:
		before = tip.ID
	}
	after := before
	for _, u := range p.Updates {
		if u.Ref == branchRef {
			after = u.New
			if u.New == revision.ZeroID {
				after = ""
			}
		}
	}
	k := &check{Checker: c, ctx: ctx, push: p, cfg: cfg, batch: b, branchTip: after, val: c.Packages.For(p.Rules).Start(ctx, p.Repo, b, after),
		pkgs: map[string]*pkgToValidate{}, pushedTags: map[string]string{}, tagList: pkgcheck.NewTags(ctx, p.Repo),
		ancestors: map[string]bool{}, objs: newObjects()}
	return k.run(before)
}

func (k *check) refuse(ref, format string, args ...any) {
	k.refused = append(k.refused, fmt.Sprintf("pkgserver: refused %s: %s", ref, fmt.Sprintf(format, args...)))
}

// run decides on the push; branchBefore is the repository branch before
// it ("": none).
func (k *check) run(branchBefore string) (*Decision, error) {
	if err := k.prefetch(); err != nil {
		return nil, err
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
		lines, errs, n, err := k.val.Validate(&d.Report)
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
