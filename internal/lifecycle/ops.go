package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"reflect"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/krm"
	"github.com/pkgserver/pkgserver/internal/result"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// Init describes a new package.
type Init struct {
	Description string
	Keywords    []string
	Site        string
}

// Create is a new Draft: exactly one of Init, CopyFrom or CloneFrom.
type Create struct {
	Repository, Package, Workspace string
	Init                           *Init
	// CopyFrom names a published revision of the same package.
	CopyFrom string
	// CloneFrom names a published revision of another package (typically
	// of a catalog repository, cloned into a deployment repository).
	CloneFrom string
	// Upgrade rebases a published revision of this package onto a newer
	// upstream revision.
	Upgrade *Upgrade
	// Meta sets the new revision's labels, annotations and readiness gates.
	Meta *MetaEdit
}

// Create creates a Draft: the branch drafts/<full>/<workspace> with one
// commit on the repository branch's head holding the new package.
func (w *Writer) Create(ctx context.Context, ns string, req Create, by Author) (*store.Revision, []result.Result, error) {
	if err := ValidPackagePath(req.Package); err != nil {
		return nil, nil, invalid("spec.packageName: %v", err)
	}
	if !revision.IsLabel(req.Workspace) {
		return nil, nil, invalid("spec.workspaceName %q must be an RFC 1123 label", req.Workspace)
	}
	sources := 0
	for _, set := range []bool{req.Init != nil, req.CopyFrom != "", req.CloneFrom != "", req.Upgrade != nil} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		return nil, nil, invalid("spec.tasks: give exactly one task: init, edit (a copy of a published revision), clone or upgrade")
	}
	if err := req.Meta.check(); err != nil {
		return nil, nil, err
	}
	o, done, err := w.begin(ctx, ns, req.Repository, by)
	if err != nil {
		return nil, nil, err
	}
	defer done()
	name := revision.ObjectName(o.repo.Object.Name, req.Package, req.Workspace)
	if _, err := w.Store.GetRevision(ctx, ns, name); err == nil {
		return nil, nil, invalid("workspace %q of package %s is in use: %s exists", req.Workspace, req.Package, name)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, nil, err
	}
	full := o.cfg.Full(req.Package)
	tip, err := o.branchTip()
	if err != nil {
		return nil, nil, err
	}
	var tree, message string
	switch {
	case req.Init != nil:
		if err := o.noPackageAt(tip, req.Package); err != nil {
			return nil, nil, err
		}
		if tree, err = o.initTree(req.Package, req.Init); err != nil {
			return nil, nil, err
		}
		message = fmt.Sprintf("Create package %s\n", full)
	case req.Upgrade != nil:
		files, local, upstream, msg, err := o.upgradeFiles(*req.Upgrade)
		if err != nil {
			return nil, nil, err
		}
		if local.Package != req.Package {
			return nil, nil, invalid("an upgrade makes a new revision of the local package %s, not of %s", local.Package, req.Package)
		}
		if tree, err = o.upgradeTree(files, local.Tree, upstream.Tree); err != nil {
			return nil, nil, err
		}
		message = msg
	case req.CloneFrom != "":
		if err := o.noPackageAt(tip, req.Package); err != nil {
			return nil, nil, err
		}
		if tree, message, err = o.cloneTree(req.CloneFrom, req.Package); err != nil {
			return nil, nil, err
		}
	default:
		src, err := w.Store.GetRevision(ctx, ns, req.CopyFrom)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, invalid("the revision to copy, %s, does not exist", req.CopyFrom)
		} else if err != nil {
			return nil, nil, err
		}
		if src.Repository != o.repo.Object.Name || src.Package != req.Package {
			return nil, nil, invalid("a copy is made of a revision of the same package: %s is %s/%s", req.CopyFrom, src.Repository, src.Package)
		}
		if src.Lifecycle != revision.Published || src.Number == 0 {
			return nil, nil, invalid("a copy is made of a published v<N> revision: %s is %s %s", req.CopyFrom, src.Lifecycle, src.Revision.Revision)
		}
		tree = src.Tree
		message = fmt.Sprintf("Edit package %s from %s\n", full, src.Revision.Revision)
	}
	if req.Meta != nil {
		if tree, err = o.editKptfile(tree, req.Meta.apply); err != nil {
			return nil, nil, err
		}
	}
	var parents []string
	if tip != "" {
		parents = []string{tip}
	}
	commit, err := o.commitPackage(tip, parents, full, tree, message)
	if err != nil {
		return nil, nil, err
	}
	warnings, err := o.validate(tip, commit, full, "the new package is not valid")
	if err != nil {
		return nil, nil, err
	}
	ref := draftRef(o.cfg, req.Package, req.Workspace)
	if err := o.apply([]revision.RefUpdate{{Ref: ref, New: commit}}); err != nil {
		if at, rerr := o.refAt(ref); errors.Is(err, ErrConflict) && rerr == nil && at != "" {
			return nil, nil, conflict("the branch %s exists", strings.TrimPrefix(ref, revision.BranchesPrefix))
		}
		return nil, nil, err
	}
	o.recordValidation(tree, warnings)
	r, err := o.written(name, nil, ref, commit, true, warnings)
	return r, warnings, err
}

// noPackageAt refuses to create a package where the branch has anything
// (a package, a directory, a file: publishing would replace it), or inside
// a package.
func (o *op) noPackageAt(tip, pkg string) error {
	if tip == "" {
		return nil
	}
	full := o.cfg.Full(pkg)
	if _, err := o.b.Info(tip + ":" + full); err == nil {
		if _, err := o.b.Info(tip + ":" + full + "/Kptfile"); err == nil {
			return invalid("%s is already a package on branch %s: copy one of its published revisions instead", full, o.cfg.Branch)
		}
		return invalid("%s already exists on branch %s and is not a package: a new package needs a path of its own", full, o.cfg.Branch)
	}
	for p := path.Dir(full); p != "." && p != ""; p = path.Dir(p) {
		if obj, err := o.b.Info(tip + ":" + p); err == nil && obj.Type != "tree" {
			return invalid("%s is a file on branch %s: %s cannot be made below it", p, o.cfg.Branch, full)
		}
		if p == o.cfg.Directory {
			break
		}
		if _, err := o.b.Info(tip + ":" + p + "/Kptfile"); err == nil {
			return invalid("%s is inside package %s: packages are not nested", full, p)
		}
	}
	return nil
}

// cloneTree writes the files of a published revision of another package
// as a new package: its Kptfile names the new package and records where it
// came from (upstream) and the exact commit (upstreamLock).
func (o *op) cloneTree(from, pkg string) (tree, message string, err error) {
	ns := o.repo.Object.Namespace
	src, err := o.w.Store.GetRevision(o.ctx, ns, from)
	if errors.Is(err, store.ErrNotFound) {
		return "", "", invalid("the revision to clone, %s, does not exist", from)
	} else if err != nil {
		return "", "", err
	}
	if src.Lifecycle != revision.Published || src.Number == 0 {
		return "", "", invalid("a clone is made of a published v<N> revision: %s is %s %s", from, src.Lifecycle, src.Revision.Revision)
	}
	srcRepo, err := o.w.Store.GetRepository(o.ctx, ns, src.Repository)
	if err != nil {
		return "", "", err
	}
	files, err := o.w.Store.Resources(o.ctx, ns, src.Name)
	if err != nil {
		return "", "", err
	}
	kf, ok := files["Kptfile"]
	if !ok {
		return "", "", invalid("%s has no Kptfile", from)
	}
	srcFull := srcRepo.Config().Full(src.Package)
	url := o.w.upstreamURL(srcRepo)
	ref := srcFull + "/" + src.Revision.Revision
	up := krm.Upstream{Type: "git", Git: &krm.Git{Repo: url, Directory: srcFull, Ref: ref}, UpdateStrategy: "resource-merge"}
	lock := krm.UpstreamLock{Type: "git", Git: &krm.GitLock{Repo: url, Directory: srcFull, Ref: ref, Commit: src.Commit}}
	if files["Kptfile"], err = setUpstream(kf, path.Base(pkg), up, lock); err != nil {
		return "", "", invalid("the Kptfile of %s: %v", from, err)
	}
	modes, err := o.w.modes(o.ctx, src.Tree)
	if err != nil {
		return "", "", err
	}
	if tree, err = o.ow.BuildTree(fileList(files, modes)); err != nil {
		return "", "", err
	}
	return tree, fmt.Sprintf("Clone %s %s into %s\n", srcFull, src.Revision.Revision, o.cfg.Full(pkg)), nil
}

// setUpstream edits a Kptfile, keeping what else it says: the package's
// name, upstream and upstreamLock.
func setUpstream(kptfile []byte, name string, up krm.Upstream, lock krm.UpstreamLock) ([]byte, error) {
	rn, err := yaml.Parse(string(kptfile))
	if err != nil {
		return nil, err
	}
	if err := rn.SetName(name); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		v    any
	}{{"upstream", up}, {"upstreamLock", lock}} {
		data, err := yaml.Marshal(f.v)
		if err != nil {
			return nil, err
		}
		node, err := yaml.Parse(string(data))
		if err != nil {
			return nil, err
		}
		if err := rn.PipeE(yaml.SetField(f.name, node)); err != nil {
			return nil, err
		}
	}
	out, err := rn.String()
	return []byte(out), err
}

// initTree writes the files of a new package: its Kptfile and a README.
func (o *op) initTree(pkg string, in *Init) (string, error) {
	kf := krm.Kptfile{APIVersion: krm.KptfileAPIVersion, Kind: krm.KptfileKind,
		Metadata: krm.ObjectMeta{Name: path.Base(pkg), Annotations: map[string]string{"config.kubernetes.io/local-config": "true"}}}
	if in.Description != "" || len(in.Keywords) > 0 || in.Site != "" {
		kf.Info = &krm.PackageInfo{Description: in.Description, Keywords: in.Keywords, Site: in.Site}
	}
	data, err := yaml.Marshal(kf)
	if err != nil {
		return "", err
	}
	readme := fmt.Sprintf("# %s\n\n%s\n", path.Base(pkg), strings.TrimSpace(in.Description))
	return o.ow.BuildTree([]gitrepo.File{{Path: "Kptfile", Data: data}, {Path: "README.md", Data: []byte(readme)}})
}

// MaxResourceFiles bounds the files of one update of a package's
// resources.
const MaxResourceFiles = 10000

// PutResources replaces the files of a Draft: one commit on its branch.
// Files that fail validation refuse the update (Invalid with the
// findings); warnings are returned.
func (w *Writer) PutResources(ctx context.Context, ns, name string, rv int64, files map[string][]byte, by Author) (*store.Revision, []result.Result, error) {
	r, err := w.revision(ctx, ns, name, rv)
	if err != nil {
		return nil, nil, err
	}
	if r.Lifecycle != revision.Draft || !strings.HasPrefix(r.Ref, revision.DraftsPrefix) {
		return nil, nil, invalid("only a Draft's resources can be changed; %s is %s (%s)", name, r.Lifecycle, allowed(r.Lifecycle))
	}
	if _, ok := files["Kptfile"]; !ok {
		return nil, nil, invalid("spec.resources: a package needs its Kptfile")
	}
	if len(files) > MaxResourceFiles {
		return nil, nil, invalid("spec.resources: %d files, at most %d", len(files), MaxResourceFiles)
	}
	// The API carries text, not modes: executables and symbolic links stay
	// what they were.
	modes, err := w.modes(ctx, r.Tree)
	if err != nil {
		return nil, nil, err
	}
	list := make([]gitrepo.File, 0, len(files))
	for _, p := range slices.Sorted(maps.Keys(files)) {
		if !fs.ValidPath(p) || p == "." || strings.Contains(p, "\\") {
			return nil, nil, invalid("spec.resources: %q is not a relative slash-separated path inside the package", p)
		}
		for _, elem := range strings.Split(p, "/") {
			if err := gitrepo.ValidateWritePathElement(elem); err != nil {
				return nil, nil, invalid("spec.resources: %q: %v", p, err)
			}
		}
		if path.Base(p) == "Kptfile" && p != "Kptfile" {
			return nil, nil, invalid("spec.resources: %q: packages are not nested", p)
		}
		list = append(list, gitrepo.File{Path: p, Data: files[p], Mode: modes[p]})
	}
	o, done, err := w.begin(ctx, ns, r.Repository, by)
	if err != nil {
		return nil, nil, err
	}
	defer done()
	full := o.cfg.Full(r.Package)
	tree, err := o.ow.BuildTree(list)
	if err != nil {
		return nil, nil, invalid("spec.resources: %v", err)
	}
	if tree == r.Tree {
		return r, nil, nil // unchanged
	}
	commit, err := o.commitPackage(r.Commit, []string{r.Commit}, full, tree, fmt.Sprintf("Update package %s\n", full))
	if err != nil {
		return nil, nil, err
	}
	tip, err := o.branchTip()
	if err != nil {
		return nil, nil, err
	}
	warnings, err := o.validate(tip, commit, full, "the resources are not valid")
	if err != nil {
		return nil, nil, err
	}
	if err := o.apply([]revision.RefUpdate{{Ref: r.Ref, Old: r.Commit, New: commit}}); err != nil {
		return nil, nil, err
	}
	o.recordValidation(tree, warnings)
	nr, err := o.written(name, r, r.Ref, commit, true, warnings)
	return nr, warnings, err
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

// maxPublishTries bounds the attempts of a publish whose branch moved.
const maxPublishTries = 5

// publish makes a proposal the next v<N>: one transaction moves the
// repository branch to a commit whose tree has the package directory of
// the proposal (the proposal's commit its second parent, the publish
// trailers in its message), creates the tag, and deletes the proposal's
// branch. When the branch moved meanwhile, it is done again on the new
// head; the proposal is never lost.
func (w *Writer) publish(ctx context.Context, r *store.Revision, by Author) (*store.Revision, []result.Result, error) {
	o, done, err := w.begin(ctx, r.Namespace, r.Repository, by)
	if err != nil {
		return nil, nil, err
	}
	defer done()
	if r.Ref != proposedRef(o.cfg, r.Package, r.Workspace) {
		return nil, nil, invalid("%s is proposed by a pull request (%s): merge the request to publish it", r.Name, r.Ref)
	}
	full := o.cfg.Full(r.Package)
	if err := o.readinessGates(r.Commit, full); err != nil {
		return nil, nil, err
	}
	for try := 1; ; try++ {
		tip, err := o.branchTip()
		if err != nil {
			return nil, nil, err
		}
		n, err := o.nextNumber(full)
		if err != nil {
			return nil, nil, err
		}
		msg := fmt.Sprintf("Publish %s %s\n\n%s", full, revision.FormatRevision(n), revision.PublishTrailers(full, r.Workspace, n))
		var parents []string
		if tip != "" {
			parents = append(parents, tip)
		}
		commit, err := o.commitPackage(tip, append(parents, r.Commit), full, r.Tree, msg)
		if err != nil {
			return nil, nil, err
		}
		warnings, err := o.validate(tip, commit, full, "not published")
		if err != nil {
			return nil, nil, err
		}
		if w.beforePublish != nil {
			w.beforePublish(try)
		}
		err = o.apply([]revision.RefUpdate{
			{Ref: o.cfg.RefName(revision.Source{Kind: revision.KindBranch}), Old: tip, New: commit},
			{Ref: o.cfg.RefName(revision.Source{Kind: revision.KindTag, Package: r.Package, Revision: revision.FormatRevision(n)}), New: commit},
			{Ref: r.Ref, Old: r.Commit},
		})
		if errors.Is(err, ErrConflict) && try < maxPublishTries {
			// The branch moved, or the number was taken: again on what git
			// holds now, if the proposal is still what was approved.
			if at, rerr := o.refAt(r.Ref); rerr != nil || at != r.Commit {
				return nil, nil, conflict("the proposal %s changed while it was approved", r.Name)
			}
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		o.recordValidation(r.Tree, warnings)
		nr, err := o.written(r.Name, r, revision.TagsPrefix+full+"/"+revision.FormatRevision(n), commit, true, warnings)
		return nr, warnings, err
	}
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
