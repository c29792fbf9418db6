package lifecycle

import (
	"fmt"
	"slices"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/krm"
	"github.com/pkgserver/pkgserver/internal/observe"
	"github.com/pkgserver/pkgserver/internal/pkgcheck"
	"github.com/pkgserver/pkgserver/internal/result"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// DryRun returns a writer whose writes are dry runs, as Kubernetes's
// dryRun=All: each is checked and refused exactly as the real write would
// be (its content built and validated, its ref updates checked against
// where the refs are), and answers the revision the write would leave, but
// nothing is written: the objects it builds go to a scratch store that is
// removed afterwards, no ref moves, the index and its events are
// untouched. A dry run of a remote repository's write checks the refs
// against its mirror as last fetched, not against the remote.
func (w *Writer) DryRun() *Writer {
	return &Writer{Store: w.Store, Git: w.Git, Index: w.Index, Packages: w.Packages, Now: w.Now, Log: w.Log, RepoURL: w.RepoURL,
		Render: w.Render, dryRun: true}
}

// written returns the revision name as a write left it: after a real
// write, as the index holds it; after a dry run, as the index would derive
// it from what the write would have done. ref and commit are where the
// write put the revision's package; prev is the revision before (nil for a
// new one); validated says whether the write validated the revision's
// tree, with the given findings.
func (o *op) written(name string, prev *store.Revision, ref, commit string, validated bool, warnings []result.Result) (*store.Revision, error) {
	if !o.dry {
		return o.w.Store.GetRevision(o.ctx, o.repo.Object.Namespace, name)
	}
	obs, err := o.observe(ref, commit)
	if err != nil {
		return nil, err
	}
	if prev != nil && prev.Ref == ref {
		// An open pull request of the branch stays open.
		obs.PullRequest = prev.PullRequest
	}
	revs, problems := revision.DerivePackage(o.cfg, obs.Package, []revision.Observation{obs})
	if len(problems) > 0 {
		return nil, invalid("%s", problems[0].String())
	}
	i := slices.IndexFunc(revs, func(r revision.Revision) bool { return r.Name == name })
	if i < 0 {
		return nil, fmt.Errorf("%s at %s does not derive revision %s", ref, commit, name)
	}
	r := &store.Revision{Revision: revs[i], Namespace: o.repo.Object.Namespace, Repository: o.repo.Object.Name}
	if prev != nil {
		// As Kubernetes answers a dry run of an update: with the resource
		// version the object has.
		r.ResourceVersion = prev.ResourceVersion
	}
	switch {
	case prev != nil && prev.Tree == r.Tree:
		r.Meta = prev.Meta
	default:
		kf, err := o.b.Read(r.Tree + ":Kptfile")
		if err != nil {
			return nil, err
		}
		r.Meta = krm.KptfileMeta(kf.Data)
	}
	switch {
	case validated:
		r.Validation = pkgcheck.NewValidation(warnings, o.w.now())
	case prev != nil && prev.Tree == r.Tree:
		r.Validation = prev.Validation
	}
	return r, nil
}

// observe is what the index observes of a ref at a commit that a write
// made: a branch, or a lightweight tag (writes make no annotated tags). It
// reads what the index reads and derives the observation with the index's
// own rule (revision.Observe), so that a dry run answers what the index
// will say.
func (o *op) observe(ref, commit string) (revision.Observation, error) {
	src, ok, err := o.cfg.ParseRef(ref)
	if err != nil || !ok {
		return revision.Observation{}, fmt.Errorf("%s is not a ref of the git contract: %v", ref, err)
	}
	obj, err := o.b.Read(commit)
	if err != nil {
		return revision.Observation{}, err
	}
	c, err := gitrepo.ParseCommit(obj)
	if err != nil {
		return revision.Observation{}, err
	}
	tree, err := o.b.TreeID(commit, o.cfg.Full(src.Package))
	if err != nil {
		return revision.Observation{}, err
	}
	return revision.Observe(o.cfg, src, commit, tree, observe.CommitMade(c), nil), nil
}

// moved returns revision r as a write that moves no package content left
// it: after a real write, as the index holds it; after a dry run, r with
// what change says.
func (o *op) moved(r *store.Revision, change func(r *store.Revision)) (*store.Revision, error) {
	if !o.dry {
		return o.w.Store.GetRevision(o.ctx, r.Namespace, r.Name)
	}
	nr := *r
	change(&nr)
	return &nr, nil
}

// highestPublished says whether r's number is higher than that of every
// other published v<N> of its package: then, published, it is the latest
// (revision.Derive's rule).
func (o *op) highestPublished(r *store.Revision) (bool, error) {
	list, err := o.w.Store.ListRevisions(o.ctx, store.ListOptions{Namespace: r.Namespace, Repository: r.Repository, Package: r.Package,
		Lifecycle: string(revision.Published)})
	if err != nil {
		return false, err
	}
	for _, other := range list.Items {
		if other.Package == r.Package && other.Name != r.Name && other.Number > r.Number {
			return false, nil
		}
	}
	return r.Number > 0, nil
}
