package ui

import (
	"html"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"

	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/result"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// revisionData is what a revision's page shows.
type revisionData struct {
	Rev     pkgv1alpha1.PackageRevision
	Files   []file
	Actions []action
	// Findings are the findings of the revision's last validation (and
	// rendering check); Errors and Warnings count them.
	Findings         []finding
	Errors, Warnings int
	Upstream         *upstream
	// Tree is the files by directory.
	Tree []*treeNode
}

// treeNode is a directory (with Children) or a file (with Path) of a
// package's tree.
type treeNode struct {
	Name, Path string
	Children   []*treeNode
	// Findings counts the findings about a file.
	Findings int
}

// treeOf nests a package's files, in path order, by directory.
func treeOf(files []file) []*treeNode {
	root := &treeNode{}
	dirs := map[string]*treeNode{"": root}
	var dirOf func(dir string) *treeNode
	dirOf = func(dir string) *treeNode {
		if dir == "." {
			dir = ""
		}
		if n, ok := dirs[dir]; ok {
			return n
		}
		parent := dirOf(path.Dir(dir))
		n := &treeNode{Name: path.Base(dir)}
		parent.Children = append(parent.Children, n)
		dirs[dir] = n
		return n
	}
	for _, f := range files {
		n := len(f.Findings)
		for _, l := range f.Lines {
			n += len(l.Findings)
		}
		parent := dirOf(path.Dir(f.Path))
		parent.Children = append(parent.Children, &treeNode{Name: path.Base(f.Path), Path: f.Path, Findings: n})
	}
	return root.Children
}

// file is a file of a revision, its lines numbered and highlighted, with
// the findings about it.
type file struct {
	Path  string
	Lines []line
	// Findings are those about the file as a whole (no line).
	Findings []finding
	// Code is the file's lines as the page shows them, with the findings
	// under their lines (codeOf).
	Code template.HTML
}

// line is a line of a file.
type line struct {
	HTML     template.HTML
	Findings []finding
}

// finding is a finding with its file's path in the package ("" for one
// about no file of it).
type finding struct {
	result.Result
	Path string
	Line int
}

// action is a lifecycle move the visitor may make, as a form's button.
type action struct {
	Name, Label string
	// Confirm, when set, is the question a destructive action asks first.
	Confirm string
	// Danger marks a destructive action.
	Danger bool
}

// move is what an action asks of the API.
type move struct {
	// approval: through the approval subresource; lifecycle: to what;
	// remove: a DELETE.
	approval  bool
	lifecycle revision.Lifecycle
	remove    bool
}

// moves are the actions by name.
var moves = map[string]move{
	"propose":          {lifecycle: revision.Proposed},
	"approve":          {approval: true, lifecycle: revision.Published},
	"reject":           {approval: true, lifecycle: revision.Draft},
	"propose-deletion": {approval: true, lifecycle: revision.DeletionProposed},
	"keep":             {approval: true, lifecycle: revision.Published},
	"delete":           {remove: true},
}

// actionsOf are the moves a revision's lifecycle allows, in the order its
// page shows them; only a v<N> revision may be proposed for deletion.
func actionsOf(lc, rev string) []action {
	del := action{Name: "delete", Label: "Delete", Danger: true, Confirm: "Delete this revision? Its branch is deleted from git."}
	switch revision.Lifecycle(lc) {
	case revision.Draft:
		return []action{{Name: "propose", Label: "Propose"}, del}
	case revision.Proposed:
		return []action{{Name: "approve", Label: "Approve"}, {Name: "reject", Label: "Reject"}, del}
	case revision.Published:
		if revision.ParseRevisionNumber(rev) == 0 {
			return nil
		}
		return []action{{Name: "propose-deletion", Label: "Propose deletion", Danger: true,
			Confirm: "Propose deleting this published revision? It is deleted once the proposal is approved."}}
	case revision.DeletionProposed:
		return []action{{Name: "keep", Label: "Reject deletion"},
			{Name: "delete", Label: "Delete", Danger: true, Confirm: "Delete this published revision? Its tag is deleted from git."}}
	}
	return nil
}

func (u *UI) revisionPage(w http.ResponseWriter, r *http.Request, v *visitor) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	live := u.scope(r, "revision", ns, "", name)
	var d revisionData
	if err := u.call(r, v, http.MethodGet, nsPath(pkgsAPI, ns, "packagerevisions/"+url.PathEscape(name)), nil, &d.Rev); err != nil {
		u.failAPI(w, r, v, err)
		return
	}
	var res pkgv1alpha1.PackageRevisionResources
	if err := u.call(r, v, http.MethodGet, nsPath(pkgsAPI, ns, "packagerevisionresources/"+url.PathEscape(name)), nil, &res); err != nil {
		u.failAPI(w, r, v, err)
		return
	}
	var results []result.Result
	if res.Status != nil {
		results = res.Status.Results
	}
	d.Files, d.Findings, d.Errors, d.Warnings = filesOf(res.Spec.Resources, d.Rev.Spec.PackageName, results)
	d.Tree = treeOf(d.Files)
	d.Upstream = u.upstreamOf(r, v, ns, res.Spec.Resources["Kptfile"])
	if v.may(ns, store.RoleWrite) {
		d.Actions = actionsOf(d.Rev.Spec.Lifecycle, d.Rev.Spec.Revision)
	}
	u.render(w, r, http.StatusOK, "revision.html", page{Title: name, Who: v, Data: d, Live: live})
}

// filesOf are a revision's files in path order, with the findings placed
// at their files and lines (a finding's path may be the package's or the
// repository's), and the findings with their paths in the package.
func filesOf(resources map[string]string, pkg string, results []result.Result) ([]file, []finding, int, int) {
	var files []file
	at := map[string]int{}
	for _, p := range slices.Sorted(maps.Keys(resources)) {
		f := file{Path: p}
		yaml := isYAML(p)
		for _, l := range strings.Split(strings.TrimSuffix(resources[p], "\n"), "\n") {
			f.Lines = append(f.Lines, line{HTML: highlightLine(l, yaml)})
		}
		at[p] = len(files)
		files = append(files, f)
	}
	var errs, warns int
	findings := make([]finding, 0, len(results))
	for _, r := range results {
		switch r.Severity {
		case result.Error:
			errs++
		case result.Warning:
			warns++
		}
		fd := finding{Result: r}
		if r.File == nil {
			findings = append(findings, fd)
			continue
		}
		fd.Path, fd.Line = strings.TrimPrefix(r.File.Path, pkg+"/"), r.File.Line
		findings = append(findings, fd)
		i, ok := at[fd.Path]
		if !ok {
			continue
		}
		f := &files[i]
		if n := fd.Line; n > 0 && n <= len(f.Lines) {
			f.Lines[n-1].Findings = append(f.Lines[n-1].Findings, fd)
		} else {
			f.Findings = append(f.Findings, fd)
		}
	}
	for i := range files {
		files[i].Code = codeOf(&files[i])
	}
	return files, findings, errs, warns
}

// codeOf is a file's numbered lines, each linkable (#path:line), with the
// findings about a line after it. Built here rather than by the template:
// a package of 200 files has tens of thousands of lines, and the
// template's escaping per action took most of the page's time. Every text
// is escaped; the lines are highlighted HTML already.
func codeOf(f *file) template.HTML {
	var b strings.Builder
	path := html.EscapeString(f.Path)
	for i, l := range f.Lines {
		n := strconv.Itoa(i + 1)
		b.WriteString(`<span class="line`)
		if len(l.Findings) > 0 {
			b.WriteString(` has-finding`)
		}
		b.WriteString(`" id="` + path + ":" + n + `"><span class="ln" aria-hidden="true">` + n + `</span>`)
		b.WriteString(string(l.HTML))
		b.WriteString("\n</span>")
		for _, fd := range l.Findings {
			sev := html.EscapeString(string(fd.Severity))
			b.WriteString(`<span class="finding finding-` + sev + `" role="note"><span class="sev">` + sev + `</span> ` +
				html.EscapeString(fd.Message) + ` <span class="check">(` + html.EscapeString(fd.Check) + ")</span>\n</span>")
		}
	}
	return template.HTML(b.String())
}

// confirmData is what the confirmation of a destructive action shows.
type confirmData struct {
	Rev    pkgv1alpha1.PackageRevision
	Action action
	// ResourceVersion is the revision's as the page that asked showed it.
	ResourceVersion string
}

// confirmPage asks before a destructive action, as a page of its own: it
// works without JavaScript, and the action is a form posted from it.
func (u *UI) confirmPage(w http.ResponseWriter, r *http.Request, v *visitor) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	d := confirmData{ResourceVersion: r.URL.Query().Get("resourceVersion")}
	if err := u.call(r, v, http.MethodGet, nsPath(pkgsAPI, ns, "packagerevisions/"+url.PathEscape(name)), nil, &d.Rev); err != nil {
		u.failAPI(w, r, v, err)
		return
	}
	if !v.may(ns, store.RoleWrite) {
		u.render(w, r, http.StatusForbidden, "error.html", page{Title: "Forbidden", Who: v,
			Data: "Token " + v.token.Name + " may not write in namespace " + ns + "."})
		return
	}
	if d.ResourceVersion == "" {
		// Asked for without the page's version: act on the revision as
		// this page shows it.
		d.ResourceVersion = d.Rev.ResourceVersion
	}
	actions := actionsOf(d.Rev.Spec.Lifecycle, d.Rev.Spec.Revision)
	i := slices.IndexFunc(actions, func(a action) bool { return a.Name == r.PathValue("action") && a.Confirm != "" })
	if i < 0 {
		u.render(w, r, http.StatusConflict, "error.html", page{Title: "Not now", Who: v,
			Data: "This revision is " + d.Rev.Spec.Lifecycle + " now: that action is not one of its own. Go back to it and reload."})
		return
	}
	d.Action = actions[i]
	u.render(w, r, http.StatusOK, "confirm.html", page{Title: d.Action.Label, Who: v, Data: d})
}

// revisionAction makes a lifecycle move, on the revision as the page
// showed it: the form's resource version makes a change made since a 409.
func (u *UI) revisionAction(w http.ResponseWriter, r *http.Request, v *visitor) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	m, ok := moves[r.PathValue("action")]
	if !ok {
		u.fail(w, r, http.StatusNotFound, "No such action.")
		return
	}
	target := nsPath(pkgsAPI, ns, "packagerevisions/"+url.PathEscape(name))
	var err error
	switch {
	case m.remove:
		var opts any
		if rv := r.PostForm.Get("resourceVersion"); rv != "" {
			opts = map[string]any{"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": map[string]any{"resourceVersion": rv}}
		}
		err = u.call(r, v, http.MethodDelete, target, opts, nil)
	default:
		if m.approval {
			target += "/approval"
		}
		patch := map[string]any{"spec": map[string]any{"lifecycle": string(m.lifecycle)}}
		if rv := r.PostForm.Get("resourceVersion"); rv != "" {
			patch["metadata"] = map[string]any{"resourceVersion": rv}
		}
		err = u.call(r, v, http.MethodPatch, target, patch, nil)
	}
	if err != nil {
		u.failAPI(w, r, v, err)
		return
	}
	u.cfg.Log.Info("ui: revision", "action", r.PathValue("action"), "revision", ns+"/"+name, "token", v.token.Name)
	if m.remove {
		repo := r.PostForm.Get("repository")
		http.Redirect(w, r, Prefix+"repositories/"+url.PathEscape(ns)+"/"+url.PathEscape(repo), http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, Prefix+"revisions/"+url.PathEscape(ns)+"/"+url.PathEscape(name), http.StatusSeeOther)
}
