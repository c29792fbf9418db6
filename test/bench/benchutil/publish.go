package benchutil

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/test/bench/repogen"
)

// ResourcesPath is where the API keeps the default namespace's package
// revisions' resources.
const ResourcesPath = "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisionresources"

// PublishTarget is a repository whose packages Publish takes through
// the API, round-robin.
type PublishTarget struct {
	Repo     string
	Packages int
	// Latest is the newest published revision of each package used so
	// far, by package index: what the next copy is made from.
	Latest map[int]Published
}

// Published is a published revision: its name and v<N>.
type Published struct {
	Name   string
	Number int
}

// Steps of a publication, in order.
const (
	StepCreate = iota
	StepEdit
	StepPropose
	StepApprove
	StepRead
	Steps
)

// WantCodes are the status codes of the steps that succeed.
var WantCodes = [Steps]int{201, 200, 200, 200, 200}

// Publication is one package revision taken from a copy to Published.
type Publication struct {
	Pkg       string
	Workspace string
	Name      string
	From      string // the published revision copied
	Want      int    // the v<N> it should become
	Version   string // the ConfigMap's data.version the edit wrote
	Codes     [Steps]int
	Took      [Steps]time.Duration
	// index is the reconcile the approval ran before answering, from the
	// server's log (msg=reconciled refs_changed=3).
	Index    time.Duration
	Revision string // spec.revision the approval answered
	ReadBack string // lifecycle and revision of the GET after it
	Err      error
}

// OK reports whether every step answered as it should.
func (p Publication) OK() bool {
	return p.Err == nil && p.Codes == WantCodes &&
		p.Revision == revision.FormatRevision(p.Want) && p.ReadBack == "Published "+p.Revision
}

// source finds the newest published v<N> of a package through the API.
func (r *PublishTarget) source(s *Server, i int) (Published, error) {
	if p, ok := r.Latest[i]; ok {
		return p, nil
	}
	pkg := repogen.PackagePath(i)
	var l pkgv1alpha1.PackageRevisionList
	q := url.QueryEscape("spec.repository=" + r.Repo + ",spec.packageName=" + pkg)
	if _, _, err := s.Call(http.MethodGet, RevisionsPath+"?fieldSelector="+q, nil, http.StatusOK, &l); err != nil {
		return Published{}, err
	}
	var best Published
	for _, it := range l.Items {
		if n := revision.ParseRevisionNumber(it.Spec.Revision); it.Spec.Lifecycle == "Published" && n > best.Number {
			best = Published{Name: it.Name, Number: n}
		}
	}
	if best.Number == 0 {
		return Published{}, fmt.Errorf("%s: no published v<N> of %s among %d revisions", r.Repo, pkg, len(l.Items))
	}
	r.Latest[i] = best
	return best, nil
}

// Publish takes one package of r through the whole flow: a Draft copied
// from its newest published revision (the edit task), an edit of its
// ConfigMap, the proposal, and the approval, which is timed on its own;
// then reads the revision back.
func Publish(s *Server, r *PublishTarget, round int) Publication {
	i := round % r.Packages
	p := Publication{Pkg: repogen.PackagePath(i), Workspace: fmt.Sprintf("bench-%d", round), Version: fmt.Sprintf("bench-%d", round)}
	src, err := r.source(s, i)
	if err != nil {
		p.Err = err
		return p
	}
	p.From, p.Want = src.Name, src.Number+1
	p.Name = revision.ObjectName(r.Repo, p.Pkg, p.Workspace)

	// 1. Create: a Draft copied from the newest published revision.
	var draft pkgv1alpha1.PackageRevision
	create := pkgv1alpha1.PackageRevision{
		Spec: pkgv1alpha1.PackageRevisionSpec{Repository: r.Repo, PackageName: p.Pkg, WorkspaceName: p.Workspace, Lifecycle: "Draft",
			Tasks: []pkgv1alpha1.Task{{Type: pkgv1alpha1.TaskTypeEdit, Edit: &pkgv1alpha1.EditTaskSpec{SourceRef: &pkgv1alpha1.PackageRevisionRef{Name: src.Name}}}}},
	}
	create.APIVersion, create.Kind = pkgv1alpha1.APIVersion, "PackageRevision"
	if p.Codes[StepCreate], p.Took[StepCreate], p.Err = s.Call(http.MethodPost, RevisionsPath, create, http.StatusCreated, &draft); p.Err != nil {
		return p
	}

	// 2. Edit: the ConfigMap's version changes, so that the publication
	// changes the package on the branch (a copy alone publishes the same
	// tree again). Reading the resources is not timed.
	var res pkgv1alpha1.PackageRevisionResources
	if _, _, p.Err = s.Call(http.MethodGet, ResourcesPath+"/"+p.Name, nil, http.StatusOK, &res); p.Err != nil {
		return p
	}
	cm, ok := res.Spec.Resources["configmap.yaml"]
	if !ok {
		p.Err = fmt.Errorf("%s has no configmap.yaml", p.Name)
		return p
	}
	res.Spec.Resources["configmap.yaml"] = setVersion(cm, p.Version)
	if p.Codes[StepEdit], p.Took[StepEdit], p.Err = s.Call(http.MethodPut, ResourcesPath+"/"+p.Name, res, http.StatusOK, &res); p.Err != nil {
		return p
	}

	// 3. Propose: the object as created, at the edit's resource version.
	draft.ResourceVersion = res.ResourceVersion
	draft.Spec.Lifecycle = "Proposed"
	var proposal pkgv1alpha1.PackageRevision
	if p.Codes[StepPropose], p.Took[StepPropose], p.Err = s.Call(http.MethodPut, RevisionsPath+"/"+p.Name, draft, http.StatusOK, &proposal); p.Err != nil {
		return p
	}

	// 4. Approve: the object the proposal answered, lifecycle Published.
	proposal.Spec.Lifecycle = "Published"
	var approved pkgv1alpha1.PackageRevision
	mark := s.Log.Mark()
	if p.Codes[StepApprove], p.Took[StepApprove], p.Err = s.Call(http.MethodPut, RevisionsPath+"/"+p.Name+"/approval", proposal, http.StatusOK, &approved); p.Err != nil {
		return p
	}
	p.Revision = approved.Spec.Revision
	if e, ok := s.Log.Wait(mark, "reconciled", 5*time.Second, "repo", "default/"+r.Repo, "refs_changed", "3"); ok {
		p.Index = e.Duration("duration")
	}
	if n := revision.ParseRevisionNumber(p.Revision); n > 0 {
		r.Latest[i] = Published{Name: approved.Name, Number: n}
	}

	// 5. Read it back: the floor of a request to the API, and the check
	// that the revision is what the approval said.
	var got pkgv1alpha1.PackageRevision
	if p.Codes[StepRead], p.Took[StepRead], p.Err = s.Call(http.MethodGet, RevisionsPath+"/"+p.Name, nil, http.StatusOK, &got); p.Err != nil {
		return p
	}
	p.ReadBack = got.Spec.Lifecycle + " " + got.Spec.Revision
	return p
}

// setVersion replaces the data.version line of a generated ConfigMap.
func setVersion(cm, version string) string {
	lines := strings.Split(cm, "\n")
	for j, l := range lines {
		if strings.HasPrefix(l, "  version: ") {
			lines[j] = fmt.Sprintf("  version: %q", version)
		}
	}
	return strings.Join(lines, "\n")
}
