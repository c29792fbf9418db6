package ui

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// revisionData is what a revision's page shows.
type revisionData struct {
	Rev     pkgv1alpha1.PackageRevision
	Files   []file
	Actions []action
}

// file is a file of a revision, its lines numbered.
type file struct {
	Path  string
	Lines []string
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
// page shows them.
func actionsOf(lc string) []action {
	del := action{Name: "delete", Label: "Delete", Danger: true, Confirm: "Delete this revision? Its branch is deleted from git."}
	switch revision.Lifecycle(lc) {
	case revision.Draft:
		return []action{{Name: "propose", Label: "Propose"}, del}
	case revision.Proposed:
		return []action{{Name: "approve", Label: "Approve"}, {Name: "reject", Label: "Reject"}, del}
	case revision.Published:
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
	for _, p := range slices.Sorted(maps.Keys(res.Spec.Resources)) {
		d.Files = append(d.Files, file{Path: p, Lines: strings.Split(strings.TrimSuffix(res.Spec.Resources[p], "\n"), "\n")})
	}
	if v.may(ns, store.RoleWrite) {
		d.Actions = actionsOf(d.Rev.Spec.Lifecycle)
	}
	u.render(w, r, http.StatusOK, "revision.html", page{Title: name, Who: v, Data: d, Live: "revisions"})
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
		err = u.call(r, v, http.MethodDelete, target, nil, nil)
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
