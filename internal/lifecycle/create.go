package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"path"
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
// commit on the repository branch's head holding the new package, rendered
// (see CreateDraft).
func (w *Writer) Create(ctx context.Context, ns string, req Create, by Author) (*store.Revision, []result.Result, error) {
	out, err := w.CreateDraft(ctx, ns, req, by)
	if err != nil {
		return nil, nil, err
	}
	return out.Revision, out.Warnings, nil
}

// CreateDraft creates a Draft: the branch drafts/<full>/<workspace> with
// one commit on the repository branch's head holding the new package as
// the request's task makes it, rendered (see Rendering). A render that
// fails and a package that fails validation refuse it (Invalid with the
// findings).
func (w *Writer) CreateDraft(ctx context.Context, ns string, req Create, by Author) (*Written, error) {
	if err := req.check(); err != nil {
		return nil, err
	}
	o, done, err := w.begin(ctx, ns, req.Repository, by)
	if err != nil {
		return nil, err
	}
	defer done()
	name := revision.ObjectName(o.repo.Object.Name, req.Package, req.Workspace)
	if _, err := w.Store.GetRevision(ctx, ns, name); err == nil {
		return nil, invalid("workspace %q of package %s is in use: %s exists", req.Workspace, req.Package, name)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	full := o.cfg.Full(req.Package)
	tip, err := o.branchTip()
	if err != nil {
		return nil, err
	}
	tree, message, err := o.createTree(req, tip)
	if err != nil {
		return nil, err
	}
	if req.Meta != nil {
		if tree, err = o.editKptfile(tree, req.Meta.apply); err != nil {
			return nil, err
		}
	}
	tree, rendering, err := o.renderTree(tree, full, "the new package does not render")
	if err != nil {
		return nil, err
	}
	o.rendered = rendering != nil && rendering.Err == nil
	var parents []string
	if tip != "" {
		parents = []string{tip}
	}
	commit, err := o.commitPackage(tip, parents, full, tree, message)
	if err != nil {
		return nil, err
	}
	warnings, err := o.validate(tip, commit, full, "the new package is not valid")
	if err != nil {
		return nil, err
	}
	ref := draftRef(o.cfg, req.Package, req.Workspace)
	if err := o.apply([]revision.RefUpdate{{Ref: ref, New: commit}}); err != nil {
		if at, rerr := o.refAt(ref); errors.Is(err, ErrConflict) && rerr == nil && at != "" {
			return nil, conflict("the branch %s exists", strings.TrimPrefix(ref, revision.BranchesPrefix))
		}
		return nil, err
	}
	o.recordValidation(tree, warnings)
	r, err := o.written(name, nil, ref, commit, true, warnings)
	if err != nil {
		return nil, err
	}
	return &Written{Revision: r, Warnings: append(rendering.warnings(full), warnings...), Rendering: rendering}, nil
}

// check refuses a Create that asks for something wrong before anything is
// read: a package path, a workspace, not exactly one task.
func (req Create) check() error {
	if err := ValidPackagePath(req.Package); err != nil {
		return invalid("spec.packageName: %v", err)
	}
	if !revision.IsLabel(req.Workspace) {
		return invalid("spec.workspaceName %q must be an RFC 1123 label", req.Workspace)
	}
	sources := 0
	for _, set := range []bool{req.Init != nil, req.CopyFrom != "", req.CloneFrom != "", req.Upgrade != nil} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		return invalid("spec.tasks: give exactly one task: init, edit (a copy of a published revision), clone or upgrade")
	}
	return req.Meta.check()
}

// createTree writes the tree of the new package as the request's task
// makes it, on the branch at tip, and says what the commit's message is.
func (o *op) createTree(req Create, tip string) (tree, message string, err error) {
	full := o.cfg.Full(req.Package)
	switch {
	case req.Init != nil:
		if err := o.noPackageAt(tip, req.Package); err != nil {
			return "", "", err
		}
		if tree, err = o.initTree(req.Package, req.Init); err != nil {
			return "", "", err
		}
		return tree, fmt.Sprintf("Create package %s\n", full), nil
	case req.Upgrade != nil:
		files, local, upstream, msg, err := o.upgradeFiles(*req.Upgrade)
		if err != nil {
			return "", "", err
		}
		if local.Package != req.Package {
			return "", "", invalid("an upgrade makes a new revision of the local package %s, not of %s", local.Package, req.Package)
		}
		if tree, err = o.upgradeTree(files, local.Tree, upstream.Tree); err != nil {
			return "", "", err
		}
		return tree, msg, nil
	case req.CloneFrom != "":
		if err := o.noPackageAt(tip, req.Package); err != nil {
			return "", "", err
		}
		return o.cloneTree(req.CloneFrom, req.Package)
	}
	return o.copyTree(req.CopyFrom, req.Package)
}

// copyTree is the tree of a published revision of the same package, the
// start of its next revision.
func (o *op) copyTree(from, pkg string) (tree, message string, err error) {
	src, err := o.w.Store.GetRevision(o.ctx, o.repo.Object.Namespace, from)
	if errors.Is(err, store.ErrNotFound) {
		return "", "", invalid("the revision to copy, %s, does not exist", from)
	} else if err != nil {
		return "", "", err
	}
	if src.Repository != o.repo.Object.Name || src.Package != pkg {
		return "", "", invalid("a copy is made of a revision of the same package: %s is %s/%s", from, src.Repository, src.Package)
	}
	if src.Lifecycle != revision.Published || src.Number == 0 {
		return "", "", invalid("a copy is made of a published v<N> revision: %s is %s %s", from, src.Lifecycle, src.Revision.Revision)
	}
	return src.Tree, fmt.Sprintf("Edit package %s from %s\n", o.cfg.Full(pkg), src.Revision.Revision), nil
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
			return invalid("%s is inside package %s: a directory with a Kptfile there is a subpackage of it, not a package", full, p)
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
