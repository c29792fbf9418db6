package lifecycle

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/krm"
	"github.com/pkgserver/pkgserver/internal/result"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// MaxResourceFiles bounds the files of one update of a package's
// resources.
const MaxResourceFiles = 10000

// PutResources replaces the files of a Draft: one commit on its branch
// (see WriteResources), answering the revision and the warnings.
func (w *Writer) PutResources(ctx context.Context, ns, name string, rv int64, files map[string][]byte, by Author) (*store.Revision, []result.Result, error) {
	out, err := w.WriteResources(ctx, ns, name, rv, files, by)
	if err != nil {
		return nil, nil, err
	}
	return out.Revision, out.Warnings, nil
}

// Written is what a write of a Draft's content did.
type Written struct {
	// Revision is the revision as the write left it.
	Revision *store.Revision
	// Warnings are the findings that did not refuse the write: of its
	// validation and, for a package committed though its render failed,
	// of the render.
	Warnings []result.Result
	// Rendering is how the package rendered; nil when it has no pipeline.
	Rendering *Rendering
}

// WriteResources replaces the files of a Draft with the files given,
// rendered: one commit on its branch. A render that fails and files that
// fail validation refuse the update (Invalid with the findings).
func (w *Writer) WriteResources(ctx context.Context, ns, name string, rv int64, files map[string][]byte, by Author) (*Written, error) {
	r, err := w.revision(ctx, ns, name, rv)
	if err != nil {
		return nil, err
	}
	if err := checkResources(r, name, files); err != nil {
		return nil, err
	}
	// The API carries text, not modes: executables and symbolic links stay
	// what they were.
	modes, err := w.modes(ctx, r.Tree)
	if err != nil {
		return nil, err
	}
	o, done, err := w.begin(ctx, ns, r.Repository, by)
	if err != nil {
		return nil, err
	}
	defer done()
	full := o.cfg.Full(r.Package)
	rendering, err := w.renderPackage(ctx, full, files, modes, "the resources do not render")
	if err != nil {
		return nil, err
	}
	o.rendered = rendering != nil && rendering.Err == nil
	tree, err := o.ow.BuildTree(fileList(rendering.apply(files), modes))
	if err != nil {
		return nil, invalid("spec.resources: %v", err)
	}
	if tree == r.Tree {
		return &Written{Revision: r, Warnings: rendering.warnings(full), Rendering: rendering}, nil // unchanged
	}
	commit, err := o.commitPackage(r.Commit, []string{r.Commit}, full, tree, fmt.Sprintf("Update package %s\n", full))
	if err != nil {
		return nil, err
	}
	tip, err := o.branchTip()
	if err != nil {
		return nil, err
	}
	warnings, err := o.validate(tip, commit, full, "the resources are not valid")
	if err != nil {
		return nil, err
	}
	if err := o.apply([]revision.RefUpdate{{Ref: r.Ref, Old: r.Commit, New: commit}}); err != nil {
		return nil, err
	}
	o.recordValidation(tree, warnings)
	nr, err := o.written(name, r, r.Ref, commit, true, warnings)
	if err != nil {
		return nil, err
	}
	return &Written{Revision: nr, Warnings: append(rendering.warnings(full), warnings...), Rendering: rendering}, nil
}

// checkResources refuses files that cannot be a Draft's package: of
// another lifecycle, without a Kptfile, too many, paths outside it.
func checkResources(r *store.Revision, name string, files map[string][]byte) error {
	if r.Lifecycle != revision.Draft || !strings.HasPrefix(r.Ref, revision.DraftsPrefix) {
		return invalid("only a Draft's resources can be changed; %s is %s (%s)", name, r.Lifecycle, allowed(r.Lifecycle))
	}
	if _, ok := files["Kptfile"]; !ok {
		return invalid("spec.resources: a package needs its Kptfile")
	}
	if len(files) > MaxResourceFiles {
		return invalid("spec.resources: %d files, at most %d", len(files), MaxResourceFiles)
	}
	for _, p := range slices.Sorted(maps.Keys(files)) {
		if !fs.ValidPath(p) || p == "." || strings.Contains(p, "\\") {
			return invalid("spec.resources: %q is not a relative slash-separated path inside the package", p)
		}
		for _, elem := range strings.Split(p, "/") {
			if err := gitrepo.ValidateWritePathElement(elem); err != nil {
				return invalid("spec.resources: %q: %v", p, err)
			}
		}
	}
	return nil
}

// Update moves a revision from Draft to Proposed (its branch renamed
// drafts/ → proposed/ in one transaction) and edits a Draft's labels,
// annotations and readiness gates (a commit changing its Kptfile); both
// at once are one transaction.
func (w *Writer) Update(ctx context.Context, ns, name string, rv int64, lifecycle revision.Lifecycle, edit *MetaEdit, by Author) (*store.Revision, []result.Result, error) {
	r, err := w.revision(ctx, ns, name, rv)
	if err != nil {
		return nil, nil, err
	}
	if err := edit.check(); err != nil {
		return nil, nil, err
	}
	move, change := lifecycle != r.Lifecycle, edit.Changes(r.Meta)
	switch {
	case !move:
	case r.Lifecycle == revision.Draft && lifecycle == revision.Proposed:
	case r.Lifecycle == revision.Proposed && lifecycle == revision.Draft:
		return nil, nil, invalid("a Proposed revision returns to Draft by rejecting it (approval with lifecycle Draft)")
	case lifecycle == revision.Published || lifecycle == revision.DeletionProposed:
		return nil, nil, invalid("%s to %s is an approval (PUT …/%s/approval); %s", r.Lifecycle, lifecycle, name, allowed(r.Lifecycle))
	default:
		return nil, nil, invalid("%s cannot become %s: %s", r.Lifecycle, lifecycle, allowed(r.Lifecycle))
	}
	if change && (r.Lifecycle != revision.Draft || !strings.HasPrefix(r.Ref, revision.DraftsPrefix)) {
		return nil, nil, invalid("labels, annotations and readiness gates are kept in the package's Kptfile, which only a Draft's writes change; %s is %s (%s)",
			name, r.Lifecycle, allowed(r.Lifecycle))
	}
	switch {
	case change:
		return w.editMeta(ctx, r, edit, move, by)
	case move:
		nr, err := w.rename(ctx, r, revision.Proposed, by)
		return nr, nil, err
	}
	return r, nil, nil
}

// editMeta commits a Draft's Kptfile with new labels, annotations or
// readiness gates, and proposes the draft in the same transaction when
// asked.
func (w *Writer) editMeta(ctx context.Context, r *store.Revision, edit *MetaEdit, propose bool, by Author) (*store.Revision, []result.Result, error) {
	o, done, err := w.begin(ctx, r.Namespace, r.Repository, by)
	if err != nil {
		return nil, nil, err
	}
	defer done()
	full := o.cfg.Full(r.Package)
	tree, err := o.editKptfile(r.Tree, func(kptfile []byte) ([]byte, error) {
		// What the client saw is what the Kptfile says: an edit never
		// drops what the index did not show (a Kptfile too large to index).
		if !reflect.DeepEqual(krm.KptfileMeta(kptfile), r.Meta) {
			return nil, conflict("the Kptfile of %s says more than the index shows; change it through the resources", r.Name)
		}
		return edit.apply(kptfile)
	})
	if err != nil {
		return nil, nil, err
	}
	commit, err := o.commitPackage(r.Commit, []string{r.Commit}, full, tree, fmt.Sprintf("Update the labels, annotations and readiness gates of %s\n", full))
	if err != nil {
		return nil, nil, err
	}
	tip, err := o.branchTip()
	if err != nil {
		return nil, nil, err
	}
	warnings, err := o.validate(tip, commit, full, "the Kptfile is not valid")
	if err != nil {
		return nil, nil, err
	}
	ref := r.Ref
	updates := []revision.RefUpdate{{Ref: r.Ref, Old: r.Commit, New: commit}}
	if propose {
		ref = proposedRef(o.cfg, r.Package, r.Workspace)
		updates = []revision.RefUpdate{{Ref: r.Ref, Old: r.Commit}, {Ref: ref, New: commit}}
	}
	if err := o.apply(updates); err != nil {
		return nil, nil, err
	}
	o.recordValidation(tree, warnings)
	nr, err := o.written(r.Name, r, ref, commit, true, warnings)
	return nr, warnings, err
}

// rename moves a draft's branch to proposed/ or back.
func (w *Writer) rename(ctx context.Context, r *store.Revision, to revision.Lifecycle, by Author) (*store.Revision, error) {
	o, done, err := w.begin(ctx, r.Namespace, r.Repository, by)
	if err != nil {
		return nil, err
	}
	defer done()
	from, dest := draftRef(o.cfg, r.Package, r.Workspace), proposedRef(o.cfg, r.Package, r.Workspace)
	if to == revision.Draft {
		from, dest = dest, from
	}
	if r.Ref != from {
		return nil, invalid("%s comes from %s, which pkgserver does not move (a pull request proposes it: close the request instead)", r.Name, r.Ref)
	}
	if err := o.apply([]revision.RefUpdate{{Ref: from, Old: r.Commit}, {Ref: dest, New: r.Commit}}); err != nil {
		return nil, err
	}
	return o.moved(r, func(nr *store.Revision) {
		// A pull request of the old branch does not follow it.
		nr.Lifecycle, nr.Ref, nr.PullRequest = to, dest, 0
	})
}

// Approval decides on a proposal: Proposed → Published (approve) or Draft
// (reject); Published → DeletionProposed (propose the deletion);
// DeletionProposed → Published (reject the deletion).
func (w *Writer) Approval(ctx context.Context, ns, name string, rv int64, lifecycle revision.Lifecycle, by Author) (*store.Revision, []result.Result, error) {
	r, err := w.revision(ctx, ns, name, rv)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case r.Lifecycle == revision.Proposed && lifecycle == revision.Published:
		return w.publish(ctx, r, by)
	case r.Lifecycle == revision.Proposed && lifecycle == revision.Draft:
		nr, err := w.rename(ctx, r, revision.Draft, by)
		return nr, nil, err
	case r.Lifecycle == revision.Published && lifecycle == revision.DeletionProposed:
		if r.Number == 0 {
			return nil, nil, invalid("only a v<N> revision can be deleted; %s is %s", name, r.Revision.Revision)
		}
		nr, err := w.deletionProposal(ctx, r, true, by)
		return nr, nil, err
	case r.Lifecycle == revision.DeletionProposed && lifecycle == revision.Published:
		nr, err := w.deletionProposal(ctx, r, false, by)
		return nr, nil, err
	}
	return nil, nil, invalid("%s cannot become %s: %s", r.Lifecycle, lifecycle, allowed(r.Lifecycle))
}

// ValidatedCondition is the readiness gate pkgserver decides itself: the
// package passes validation (checked again at every approval).
const ValidatedCondition = "pkg.pkgserver.dev/validated"

// readinessGates refuses an approval while a readiness gate of the
// package (its Kptfile's info.readinessGates) has no condition True in
// the Kptfile's status.conditions.
func (o *op) readinessGates(commit, full string) error {
	obj, err := o.b.Read(commit + ":" + full + "/Kptfile")
	if err != nil {
		return err
	}
	kf, problems := krm.ParseKptfile(obj.Data)
	if kf == nil || kf.Info == nil {
		if len(problems) > 0 {
			return invalid("the Kptfile does not parse: %s", problems[0].Message)
		}
		return nil
	}
	for _, g := range kf.Info.ReadinessGates {
		if g.ConditionType == ValidatedCondition {
			continue
		}
		status := "missing"
		if kf.Status != nil {
			for _, c := range kf.Status.Conditions {
				if c.Type == g.ConditionType {
					status = c.Status
				}
			}
		}
		if status != "True" {
			return invalid("not approved: readiness gate %s is not met (its condition is %s; set it to True in the Kptfile's status.conditions)", g.ConditionType, status)
		}
	}
	return nil
}

// deletionProposal creates (or, rejecting, deletes) the branch
// deletionProposed/<full>/v<N> at the published revision's commit.
func (w *Writer) deletionProposal(ctx context.Context, r *store.Revision, create bool, by Author) (*store.Revision, error) {
	o, done, err := w.begin(ctx, r.Namespace, r.Repository, by)
	if err != nil {
		return nil, err
	}
	defer done()
	ref := o.cfg.RefName(revision.Source{Kind: revision.KindDeletionProposed, Package: r.Package, Revision: r.Revision.Revision})
	u := revision.RefUpdate{Ref: ref, New: r.Commit}
	if !create {
		if r.DeletionRef == "" {
			return nil, invalid("%s has no deletion proposal", r.Name)
		}
		at, err := o.refAt(r.DeletionRef)
		if err != nil {
			return nil, err
		}
		if at == "" {
			return nil, conflict("the deletion proposal %s is gone", r.DeletionRef)
		}
		u = revision.RefUpdate{Ref: r.DeletionRef, Old: at}
	}
	if err := o.apply([]revision.RefUpdate{u}); err != nil {
		return nil, err
	}
	latest := false
	if o.dry && !create {
		// Published again, the revision is the latest unless a higher
		// v<N> of the package is published.
		if latest, err = o.highestPublished(r); err != nil {
			return nil, err
		}
	}
	return o.moved(r, func(nr *store.Revision) {
		nr.Lifecycle, nr.DeletionRef, nr.Latest = revision.Published, "", latest
		if create {
			nr.Lifecycle, nr.DeletionRef = revision.DeletionProposed, ref
		}
	})
}

// Delete removes a Draft or a Proposed revision (its branch), or approves
// the deletion of a DeletionProposed one (its tag and the proposal's
// branch). Published revisions are deleted through a deletion proposal.
func (w *Writer) Delete(ctx context.Context, ns, name string, rv int64, by Author) error {
	r, err := w.revision(ctx, ns, name, rv)
	if err != nil {
		return err
	}
	o, done, err := w.begin(ctx, ns, r.Repository, by)
	if err != nil {
		return err
	}
	defer done()
	var updates []revision.RefUpdate
	switch r.Lifecycle {
	case revision.Draft, revision.Proposed:
		if !strings.HasPrefix(r.Ref, revision.DraftsPrefix) && !strings.HasPrefix(r.Ref, revision.ProposedPrefix) {
			return invalid("%s comes from %s, which pkgserver does not delete", name, r.Ref)
		}
		at, err := o.refAt(r.Ref)
		if err != nil {
			return err
		}
		if at != r.Commit {
			return conflict("%s moved since it was read", r.Ref)
		}
		updates = []revision.RefUpdate{{Ref: r.Ref, Old: r.Commit}}
	case revision.DeletionProposed:
		tag, err := o.refAt(r.Ref)
		if err != nil {
			return err
		}
		del, err := o.refAt(r.DeletionRef)
		if err != nil {
			return err
		}
		if tag == "" || del == "" {
			return conflict("%s changed since it was read", name)
		}
		updates = []revision.RefUpdate{{Ref: r.Ref, Old: tag}, {Ref: r.DeletionRef, Old: del}}
	default:
		return invalid("%s cannot be deleted: %s", r.Lifecycle, allowed(r.Lifecycle))
	}
	return o.apply(updates)
}
