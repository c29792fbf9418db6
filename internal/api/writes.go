package api

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/lifecycle"
	"github.com/pkgserver/pkgserver/internal/result"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
	"github.com/pkgserver/pkgserver/internal/validate"
)

// author is who a write is made for: the token's name.
func author(c echo.Context) lifecycle.Author {
	t, _ := c.Get(tokenKey).(*store.Token)
	if t == nil {
		return lifecycle.Author{}
	}
	return lifecycle.Author{Name: t.Name, Email: t.Name + "@tokens.pkgserver.invalid"}
}

// writeErr answers the errors of writes: lifecycle refusals 422 with the
// findings as causes, conflicts 409.
func writeErr(kind, name string, err error) error {
	var inv *lifecycle.Invalid
	switch {
	case errors.As(err, &inv):
		st := newStatus(http.StatusUnprocessableEntity, metav1.StatusReasonInvalid, "%s %q: %s", kind, name, inv.Message)
		if len(inv.Results) > 0 {
			st.status.Details = &metav1.StatusDetails{Name: name, Kind: kind}
			for _, r := range inv.Results {
				st.status.Details.Causes = append(st.status.Details.Causes, metav1.StatusCause{
					Type: metav1.CauseType(string(r.Severity)), Message: validate.Line(r), Field: causeField(r)})
			}
		}
		return st
	case errors.Is(err, lifecycle.ErrConflict):
		st := newStatus(http.StatusConflict, metav1.StatusReasonConflict, "%s %q: %v", kind, name, err)
		st.status.Details = &metav1.StatusDetails{Name: name, Kind: kind}
		return st
	case isNotFound(err):
		return notFound(kind, name)
	}
	return err
}

// causeField is where a finding is, as a cause's field: its file (with
// the line, file:line), else the field of the resource it names.
func causeField(r result.Result) string {
	switch {
	case r.File != nil && r.File.Line > 0:
		return r.File.Path + ":" + strconv.Itoa(r.File.Line)
	case r.File != nil:
		return r.File.Path
	case r.Field != nil:
		return r.Field.Path
	}
	return ""
}

// resourceVersion reads the resource version a client sent, 0 for none.
func resourceVersion(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, badRequest("metadata.resourceVersion %q is not a resource version", s)
	}
	return n, nil
}

// writer is the writer of package revisions; for a dry run, one that
// writes nothing.
func (s *Server) writer(dryRun bool) (*lifecycle.Writer, error) {
	if s.lifecycle == nil {
		return nil, newStatus(http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed, "this server does not write package revisions")
	}
	if dryRun {
		return s.lifecycle.DryRun(), nil
	}
	return s.lifecycle, nil
}

// createRevision creates a Draft from one task: init, edit (a copy of a
// published revision of the same package), clone or upgrade.
func (s *Server) createRevision(c echo.Context) error {
	ns := c.Param("ns")
	obj, opts, err := decodeWrite[pkgv1alpha1.PackageRevision](c, ns, store.RoleWrite, "PackageRevision", MaxBodyBytes)
	if err != nil {
		return err
	}
	out, err := s.createRevisionObject(c, ns, obj, opts)
	return writeResult(c, http.StatusCreated, out, err)
}

// createRevisionObject creates the Draft obj asks for in namespace ns (or,
// in a dry run, says what it would be) and returns it as the API shows it,
// with the managed fields obj carries.
func (s *Server) createRevisionObject(c echo.Context, ns string, obj *pkgv1alpha1.PackageRevision, opts writeOptions) (*pkgv1alpha1.PackageRevision, error) {
	if err := authorize(c, ns, store.RoleWrite); err != nil {
		return nil, err
	}
	w, err := s.writer(opts.DryRun)
	if err != nil {
		return nil, err
	}
	if obj.Namespace != "" && obj.Namespace != ns {
		return nil, badRequest("metadata.namespace %q does not match the namespace of the URL, %q", obj.Namespace, ns)
	}
	sp := obj.Spec
	var causes []metav1.StatusCause
	bad := func(field, format string, args ...any) {
		causes = append(causes, metav1.StatusCause{Type: metav1.CauseTypeFieldValueInvalid, Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if sp.Lifecycle != "" && sp.Lifecycle != string(revision.Draft) {
		bad("spec.lifecycle", "a new revision is a Draft")
	}
	if sp.Revision != "" {
		bad("spec.revision", "numbers are given when a revision is published")
	}
	if sp.Repository == "" {
		bad("spec.repository", "required")
	}
	req := lifecycle.Create{Repository: sp.Repository, Package: sp.PackageName, Workspace: sp.WorkspaceName}
	if obj.Labels != nil || obj.Annotations != nil || obj.Spec.ReadinessGates != nil {
		edit, refused := metaEdit(obj, nil, false)
		causes = append(causes, refused...)
		req.Meta = edit
	}
	if len(sp.Tasks) != 1 {
		bad("spec.tasks", "exactly one task: init, edit, clone or upgrade")
	} else {
		switch t := sp.Tasks[0]; {
		case t.Type == pkgv1alpha1.TaskTypeInit:
			req.Init = &lifecycle.Init{}
			if t.Init != nil {
				req.Init = &lifecycle.Init{Description: t.Init.Description, Keywords: t.Init.Keywords, Site: t.Init.Site}
			}
		case t.Type == pkgv1alpha1.TaskTypeEdit && t.Edit != nil && t.Edit.SourceRef != nil && t.Edit.SourceRef.Name != "":
			req.CopyFrom = t.Edit.SourceRef.Name
		case t.Type == pkgv1alpha1.TaskTypeEdit:
			bad("spec.tasks[0].edit.sourceRef.name", "required: the published revision to copy")
		case t.Type == pkgv1alpha1.TaskTypeClone && t.Clone != nil && t.Clone.UpstreamRef != nil && t.Clone.UpstreamRef.Name != "":
			req.CloneFrom = t.Clone.UpstreamRef.Name
		case t.Type == pkgv1alpha1.TaskTypeClone:
			bad("spec.tasks[0].clone.upstreamRef.name", "required: the published revision to clone")
		case t.Type == pkgv1alpha1.TaskTypeUpgrade && t.Upgrade != nil && t.Upgrade.OldUpstream != nil && t.Upgrade.NewUpstream != nil &&
			t.Upgrade.LocalPackageRevision != nil:
			req.Upgrade = &lifecycle.Upgrade{OldUpstream: t.Upgrade.OldUpstream.Name, NewUpstream: t.Upgrade.NewUpstream.Name,
				Local: t.Upgrade.LocalPackageRevision.Name, Strategy: t.Upgrade.Strategy}
		case t.Type == pkgv1alpha1.TaskTypeUpgrade:
			bad("spec.tasks[0].upgrade", "oldUpstreamRef, newUpstreamRef and localPackageRevisionRef are required")
		default:
			bad("spec.tasks[0].type", "%q is not a task: init, edit, clone or upgrade", t.Type)
		}
	}
	if len(causes) > 0 {
		return nil, invalid("packagerevisions", obj.Name, causes)
	}
	name := revision.ObjectName(sp.Repository, sp.PackageName, sp.WorkspaceName)
	defer lockRevision(c, ns, name)()
	written, err := w.CreateDraft(c.Request().Context(), ns, req, author(c))
	if err != nil {
		return nil, writeErr("packagerevisions", name, err)
	}
	warnRenderFailure(c, written.Rendering)
	r := written.Revision
	out := answerRevision(r, obj)
	if err := trackRevision(s, c, revisionsResource, revisionKind, "", nil, obj, out.ObjectMeta, r.Repository, opts); err != nil {
		return nil, err
	}
	return out, nil
}

// answerRevision is a written revision as the API shows it, with the
// managed fields the request carried.
func answerRevision(r *store.Revision, req *pkgv1alpha1.PackageRevision) *pkgv1alpha1.PackageRevision {
	out := revisionObject(*r)
	out.ManagedFields = req.ManagedFields
	return &out
}

// updateRevision moves a Draft to Proposed and edits a Draft's labels,
// annotations and readiness gates.
func (s *Server) updateRevision(c echo.Context) error {
	return s.putRevision(c, s.replaceRevision)
}

// approveRevision decides on a proposal or a deletion proposal.
func (s *Server) approveRevision(c echo.Context) error {
	return s.putRevision(c, s.replaceApproval)
}

// putRevision answers a PUT of a revision, or of its approval, with
// replace.
func (s *Server) putRevision(c echo.Context,
	replace func(c echo.Context, ns, name string, obj *pkgv1alpha1.PackageRevision, opts writeOptions) (*pkgv1alpha1.PackageRevision, error)) error {
	ns, name := c.Param("ns"), c.Param("name")
	obj, opts, err := decodeWrite[pkgv1alpha1.PackageRevision](c, ns, store.RoleWrite, "PackageRevision", MaxBodyBytes)
	if err != nil {
		return err
	}
	out, err := replace(c, ns, name, obj, opts)
	return writeResult(c, http.StatusOK, out, err)
}

// replaceRevision replaces revision ns/name by obj: moves a Draft to
// Proposed (or back), edits a Draft's labels, annotations and readiness
// gates. It returns the revision as the API shows it, with the managed
// fields obj carries.
func (s *Server) replaceRevision(c echo.Context, ns, name string, obj *pkgv1alpha1.PackageRevision, opts writeOptions) (*pkgv1alpha1.PackageRevision, error) {
	return s.moveRevision(c, ns, name, obj, opts, false)
}

// replaceApproval decides on the proposal, or deletion proposal, of
// revision ns/name as obj's lifecycle says. It returns the revision as the
// API shows it, with the managed fields obj carries.
func (s *Server) replaceApproval(c echo.Context, ns, name string, obj *pkgv1alpha1.PackageRevision, opts writeOptions) (*pkgv1alpha1.PackageRevision, error) {
	return s.moveRevision(c, ns, name, obj, opts, true)
}

// moveRevision is a replacement of a revision, or of its approval: it
// moves the revision to the lifecycle obj asks for and, but for
// approvals, changes the labels, annotations and readiness gates obj does.
func (s *Server) moveRevision(c echo.Context, ns, name string, obj *pkgv1alpha1.PackageRevision, opts writeOptions, approval bool) (*pkgv1alpha1.PackageRevision, error) {
	if err := authorize(c, ns, store.RoleWrite); err != nil {
		return nil, err
	}
	w, err := s.writer(opts.DryRun)
	if err != nil {
		return nil, err
	}
	rv, edit, err := s.checkRevision(c, ns, name, obj, approval)
	if err != nil {
		return nil, err
	}
	defer lockRevision(c, ns, name)()
	live, err := s.liveRevision(c, ns, name, opts)
	if err != nil {
		return nil, err
	}
	ctx, to, by := c.Request().Context(), revision.Lifecycle(obj.Spec.Lifecycle), author(c)
	var r *store.Revision
	if approval {
		r, _, err = w.Approval(ctx, ns, name, rv, to, by)
	} else {
		r, _, err = w.Update(ctx, ns, name, rv, to, edit, by)
	}
	if err != nil {
		return nil, writeErr("packagerevisions", name, err)
	}
	out := answerRevision(r, obj)
	sub := ""
	if approval {
		sub = "approval"
	}
	if err := trackRevision(s, c, revisionsResource, revisionKind, sub, live, obj, out.ObjectMeta, r.Repository, opts); err != nil {
		return nil, err
	}
	return out, nil
}

// metaEdit reads the labels, annotations and readiness gates of a body.
// A PUT replaces the object, so what it leaves out is removed (whole); a
// new revision keeps what its source's Kptfile says of those it leaves out.
// Labels pkgserver sets come back as they were or not at all.
func metaEdit(obj *pkgv1alpha1.PackageRevision, current map[string]string, whole bool) (*lifecycle.MetaEdit, []metav1.StatusCause) {
	var causes []metav1.StatusCause
	edit := &lifecycle.MetaEdit{}
	if whole || obj.Labels != nil {
		edit.Labels = map[string]string{}
	}
	for k, v := range obj.Labels {
		switch {
		case !revision.IsSystemLabel(k):
			edit.Labels[k] = v
		case k == pkgv1alpha1.LatestRevisionLabel:
		case current[k] != v:
			causes = append(causes, metav1.StatusCause{Type: metav1.CauseTypeFieldValueNotSupported, Field: "metadata.labels",
				Message: fmt.Sprintf("%s: labels of %s are set by pkgserver", k, revision.SystemPrefix)})
		}
	}
	if whole || obj.Annotations != nil {
		edit.Annotations = map[string]string{}
		maps.Copy(edit.Annotations, obj.Annotations)
	}
	if whole || obj.Spec.ReadinessGates != nil {
		edit.ReadinessGates = []string{}
		for _, g := range obj.Spec.ReadinessGates {
			edit.ReadinessGates = append(edit.ReadinessGates, g.ConditionType)
		}
	}
	return edit, causes
}

// checkRevision checks the body of an update: the revision as the client
// has it, whose identity and spec other than the lifecycle must be the
// stored ones. It returns the resource version the client had (0: none)
// and the change of labels, annotations and readiness gates (nil: none).
func (s *Server) checkRevision(c echo.Context, ns, name string, obj *pkgv1alpha1.PackageRevision, approval bool) (int64, *lifecycle.MetaEdit, error) {
	if obj.Name != "" && obj.Name != name {
		return 0, nil, badRequest("metadata.name %q does not match the name of the URL, %q", obj.Name, name)
	}
	if obj.Namespace != "" && obj.Namespace != ns {
		return 0, nil, badRequest("metadata.namespace %q does not match the namespace of the URL, %q", obj.Namespace, ns)
	}
	rv, err := resourceVersion(obj.ResourceVersion)
	if err != nil {
		return 0, nil, err
	}
	r, err := s.store.GetRevision(c.Request().Context(), ns, name)
	if err != nil {
		return 0, nil, writeErr("packagerevisions", name, err)
	}
	var causes []metav1.StatusCause
	for _, f := range []struct{ field, got, want string }{
		{"spec.packageName", obj.Spec.PackageName, r.Package},
		{"spec.repository", obj.Spec.Repository, r.Repository},
		{"spec.workspaceName", obj.Spec.WorkspaceName, r.Workspace},
		{"spec.revision", obj.Spec.Revision, r.Revision.Revision},
	} {
		if f.got != "" && f.got != f.want {
			causes = append(causes, metav1.StatusCause{Type: metav1.CauseTypeFieldValueInvalid, Field: f.field,
				Message: fmt.Sprintf("is immutable: %q, not %q", f.want, f.got)})
		}
	}
	if obj.Spec.Lifecycle == "" {
		causes = append(causes, metav1.StatusCause{Type: metav1.CauseTypeFieldValueRequired, Field: "spec.lifecycle", Message: "required"})
	}
	// As with any subresource, an approval looks at nothing else.
	var edit *lifecycle.MetaEdit
	if !approval {
		var refused []metav1.StatusCause
		edit, refused = metaEdit(obj, revisionObject(*r).Labels, true)
		causes = append(causes, refused...)
		if !edit.Changes(r.Meta) {
			edit = nil
		}
	}
	if len(obj.Spec.Tasks) > 0 {
		causes = append(causes, metav1.StatusCause{Type: metav1.CauseTypeFieldValueInvalid, Field: "spec.tasks", Message: "tasks are given when a revision is created"})
	}
	if len(causes) > 0 {
		return 0, nil, invalid("packagerevisions", name, causes)
	}
	return rv, edit, nil
}

// deleteRevision deletes a Draft or a Proposed revision, or approves the
// deletion of a DeletionProposed one.
func (s *Server) deleteRevision(c echo.Context) error {
	ns, name := c.Param("ns"), c.Param("name")
	if err := authorize(c, ns, store.RoleWrite); err != nil {
		return err
	}
	opts, err := parseDeleteOptions(c)
	if err != nil {
		return err
	}
	w, err := s.writer(opts.DryRun)
	if err != nil {
		return err
	}
	if opts.UID != "" {
		r, err := s.store.GetRevision(c.Request().Context(), ns, name)
		if err != nil {
			return writeErr("packagerevisions", name, err)
		}
		if uid := revisionObject(*r).UID; uid != opts.UID {
			return writeErr("packagerevisions", name, fmt.Errorf("%w: the precondition uid %s is not the revision's, %s", lifecycle.ErrConflict, opts.UID, uid))
		}
	}
	if err := w.Delete(c.Request().Context(), ns, name, opts.ResourceVersion, author(c)); err != nil {
		return writeErr("packagerevisions", name, err)
	}
	if !opts.DryRun {
		s.forgetManagedFields(c, ns, name)
	}
	return writeJSON(c, http.StatusOK, metav1.Status{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"}, Status: metav1.StatusSuccess,
		Details: &metav1.StatusDetails{Name: name, Kind: "packagerevisions"}})
}

// putResources replaces a Draft's files.
func (s *Server) putResources(c echo.Context) error {
	ns, name := c.Param("ns"), c.Param("name")
	obj, opts, err := decodeWrite[pkgv1alpha1.PackageRevisionResources](c, ns, store.RoleWrite, "PackageRevisionResources", MaxResourcesBodyBytes)
	if err != nil {
		return err
	}
	out, err := s.replaceResources(c, ns, name, obj, opts)
	return writeResult(c, http.StatusOK, out, err)
}

// replaceResources replaces the files of Draft ns/name by obj's. It
// returns the resources as the API shows them, with the managed fields obj
// carries and the warnings of the validation of the new content.
func (s *Server) replaceResources(c echo.Context, ns, name string, obj *pkgv1alpha1.PackageRevisionResources, opts writeOptions) (*pkgv1alpha1.PackageRevisionResources, error) {
	if err := authorize(c, ns, store.RoleWrite); err != nil {
		return nil, err
	}
	w, err := s.writer(opts.DryRun)
	if err != nil {
		return nil, err
	}
	if obj.Name != "" && obj.Name != name {
		return nil, badRequest("metadata.name %q does not match the name of the URL, %q", obj.Name, name)
	}
	if obj.Namespace != "" && obj.Namespace != ns {
		return nil, badRequest("metadata.namespace %q does not match the namespace of the URL, %q", obj.Namespace, ns)
	}
	rv, err := resourceVersion(obj.ResourceVersion)
	if err != nil {
		return nil, err
	}
	defer lockRevision(c, ns, name)()
	live, err := s.liveResources(c, ns, name, opts)
	if err != nil {
		return nil, err
	}
	files := make(map[string][]byte, len(obj.Spec.Resources))
	for p, text := range obj.Spec.Resources {
		files[p] = []byte(text)
	}
	written, err := w.WriteResources(c.Request().Context(), ns, name, rv, files, author(c))
	if err != nil {
		return nil, writeErr("packagerevisionresources", name, err)
	}
	r, warnings := written.Revision, written.Warnings
	warnRenderFailure(c, written.Rendering)
	var out *pkgv1alpha1.PackageRevisionResources
	if opts.DryRun {
		out, err = s.dryResourcesObject(c, r, obj.Spec.Resources, written.Rendering)
	} else {
		out, err = s.resourcesObject(c, r)
	}
	if err != nil {
		return nil, err
	}
	out.ManagedFields = obj.ManagedFields
	if err := trackRevision(s, c, resourcesResource, resourcesKind, "", live, obj, out.ObjectMeta, r.Repository, opts); err != nil {
		return nil, err
	}
	if rs := renderStatus(written.Rendering); len(warnings) > 0 || rs != nil {
		out.Status = &pkgv1alpha1.PackageRevisionResourcesStatus{Results: warnings, RenderStatus: rs}
	}
	return out, nil
}

// dryResourcesObject is the answer of a dry run of an update of a Draft's
// resources: r as the update would leave it, with the files sent as
// rendering leaves them. An update that changes nothing answers what the
// index holds, as the write does.
func (s *Server) dryResourcesObject(c echo.Context, r *store.Revision, files map[string]string, rd *lifecycle.Rendering) (*pkgv1alpha1.PackageRevisionResources, error) {
	current, err := s.store.GetRevision(c.Request().Context(), r.Namespace, r.Name)
	if err != nil {
		return nil, writeErr("packagerevisionresources", r.Name, err)
	}
	if current.Commit == r.Commit {
		return s.resourcesObject(c, r)
	}
	return &pkgv1alpha1.PackageRevisionResources{
		TypeMeta:   metav1.TypeMeta{APIVersion: pkgv1alpha1.APIVersion, Kind: "PackageRevisionResources"},
		ObjectMeta: pkgv1alpha1.ObjectMeta("PackageRevisionResources", r.Revision, r.Namespace, r.ResourceVersion),
		Spec: pkgv1alpha1.PackageRevisionResourcesSpec{
			PackageName: r.Package, WorkspaceName: r.Workspace, Revision: r.Revision.Revision,
			Repository: r.Repository, Resources: rendered(files, rd),
		},
	}, nil
}

// rendered is files as rendering leaves them.
func rendered(files map[string]string, rd *lifecycle.Rendering) map[string]string {
	out := maps.Clone(files)
	if rd == nil {
		return out
	}
	for p, data := range rd.Changed {
		out[p] = string(data)
	}
	for _, p := range rd.Deleted {
		delete(out, p)
	}
	return out
}
