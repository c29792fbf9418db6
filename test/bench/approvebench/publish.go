package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/test/bench/benchutil"
	"github.com/pkgserver/pkgserver/test/bench/repogen"
)

// repo is one repository under measurement.
type repo struct {
	name     string
	packages int
	gitDir   string
	generate time.Duration // repogen writing the bare repository
	sync     time.Duration // from registration to Ready
	synced   int           // packages the first sync found
	base     baseline
	// latest is the newest published revision of each package used so
	// far, by package index: what the next copy is made from.
	latest map[int]published
	warmUp []publication
	pubs   []publication
}

type published struct {
	name   string
	number int
}

// Steps of a publication, in order.
const (
	stepCreate = iota
	stepEdit
	stepPropose
	stepApprove
	stepRead
	steps
)

// wantCodes are the status codes of the steps that succeed.
var wantCodes = [steps]int{201, 200, 200, 200, 200}

// publication is one package revision taken from a copy to Published.
type publication struct {
	pkg       string
	workspace string
	name      string
	from      string // the published revision copied
	want      int    // the v<N> it should become
	version   string // the ConfigMap's data.version the edit wrote
	codes     [steps]int
	took      [steps]time.Duration
	// index is the reconcile the approval ran before answering, from the
	// server's log (msg=reconciled refs_changed=3).
	index    time.Duration
	revision string // spec.revision the approval answered
	readBack string // lifecycle and revision of the GET after it
	err      error
}

// ok reports whether every step answered as it should.
func (p publication) ok() bool {
	return p.err == nil && p.codes == wantCodes &&
		p.revision == revision.FormatRevision(p.want) && p.readBack == "Published "+p.revision
}

// source finds the newest published v<N> of a package through the API.
func source(s *benchutil.Server, r *repo, i int) (published, error) {
	if p, ok := r.latest[i]; ok {
		return p, nil
	}
	pkg := repogen.PackagePath(i)
	var l pkgv1alpha1.PackageRevisionList
	q := url.QueryEscape("spec.repository=" + r.name + ",spec.packageName=" + pkg)
	if _, _, err := s.Call(http.MethodGet, revisionsPath+"?fieldSelector="+q, nil, http.StatusOK, &l); err != nil {
		return published{}, err
	}
	var best published
	for _, it := range l.Items {
		if n := revision.ParseRevisionNumber(it.Spec.Revision); it.Spec.Lifecycle == "Published" && n > best.number {
			best = published{name: it.Name, number: n}
		}
	}
	if best.number == 0 {
		return published{}, fmt.Errorf("%s: no published v<N> of %s among %d revisions", r.name, pkg, len(l.Items))
	}
	r.latest[i] = best
	return best, nil
}

// publish takes one package of r through the whole flow: a Draft copied
// from its newest published revision (the edit task), an edit of its
// ConfigMap, the proposal, and the approval, which is timed on its own;
// then reads the revision back.
func publish(s *benchutil.Server, r *repo, round int) publication {
	i := round % r.packages
	p := publication{pkg: repogen.PackagePath(i), workspace: fmt.Sprintf("bench-%d", round), version: fmt.Sprintf("bench-%d", round)}
	src, err := source(s, r, i)
	if err != nil {
		p.err = err
		return p
	}
	p.from, p.want = src.name, src.number+1
	p.name = revision.ObjectName(r.name, p.pkg, p.workspace)

	// 1. Create: a Draft copied from the newest published revision.
	var draft pkgv1alpha1.PackageRevision
	create := pkgv1alpha1.PackageRevision{
		Spec: pkgv1alpha1.PackageRevisionSpec{Repository: r.name, PackageName: p.pkg, WorkspaceName: p.workspace, Lifecycle: "Draft",
			Tasks: []pkgv1alpha1.Task{{Type: pkgv1alpha1.TaskTypeEdit, Edit: &pkgv1alpha1.EditTaskSpec{SourceRef: &pkgv1alpha1.PackageRevisionRef{Name: src.name}}}}},
	}
	create.APIVersion, create.Kind = pkgv1alpha1.APIVersion, "PackageRevision"
	if p.codes[stepCreate], p.took[stepCreate], p.err = s.Call(http.MethodPost, revisionsPath, create, http.StatusCreated, &draft); p.err != nil {
		return p
	}

	// 2. Edit: the ConfigMap's version changes, so that the publication
	// changes the package on the branch (a copy alone publishes the same
	// tree again). Reading the resources is not timed.
	var res pkgv1alpha1.PackageRevisionResources
	if _, _, p.err = s.Call(http.MethodGet, resourcesPath+"/"+p.name, nil, http.StatusOK, &res); p.err != nil {
		return p
	}
	cm, ok := res.Spec.Resources["configmap.yaml"]
	if !ok {
		p.err = fmt.Errorf("%s has no configmap.yaml", p.name)
		return p
	}
	res.Spec.Resources["configmap.yaml"] = setVersion(cm, p.version)
	if p.codes[stepEdit], p.took[stepEdit], p.err = s.Call(http.MethodPut, resourcesPath+"/"+p.name, res, http.StatusOK, &res); p.err != nil {
		return p
	}

	// 3. Propose: the object as created, at the edit's resource version.
	draft.ResourceVersion = res.ResourceVersion
	draft.Spec.Lifecycle = "Proposed"
	var proposal pkgv1alpha1.PackageRevision
	if p.codes[stepPropose], p.took[stepPropose], p.err = s.Call(http.MethodPut, revisionsPath+"/"+p.name, draft, http.StatusOK, &proposal); p.err != nil {
		return p
	}

	// 4. Approve: the object the proposal answered, lifecycle Published.
	proposal.Spec.Lifecycle = "Published"
	var approved pkgv1alpha1.PackageRevision
	mark := s.Log.Mark()
	if p.codes[stepApprove], p.took[stepApprove], p.err = s.Call(http.MethodPut, revisionsPath+"/"+p.name+"/approval", proposal, http.StatusOK, &approved); p.err != nil {
		return p
	}
	p.revision = approved.Spec.Revision
	if e, ok := s.Log.Wait(mark, "reconciled", 5*time.Second, "repo", "default/"+r.name, "refs_changed", "3"); ok {
		p.index = e.Duration("duration")
	}
	if n := revision.ParseRevisionNumber(p.revision); n > 0 {
		r.latest[i] = published{name: approved.Name, number: n}
	}

	// 5. Read it back: the floor of a request to the API, and the check
	// that the revision is what the approval said.
	var got pkgv1alpha1.PackageRevision
	if p.codes[stepRead], p.took[stepRead], p.err = s.Call(http.MethodGet, revisionsPath+"/"+p.name, nil, http.StatusOK, &got); p.err != nil {
		return p
	}
	p.readBack = got.Spec.Lifecycle + " " + got.Spec.Revision
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
