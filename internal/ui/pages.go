package ui

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/pkgserver/pkgserver/internal/api"
	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// API paths the pages read.
const (
	reposAPI = "/apis/" + configv1alpha1.APIVersion
	pkgsAPI  = "/apis/" + pkgv1alpha1.APIVersion
)

// revisionsPerPage bounds the revisions one page of a repository's
// packages lists: a page shows the packages they are of.
const revisionsPerPage = 500

func nsPath(base, ns, resource string) string {
	return base + "/namespaces/" + url.PathEscape(ns) + "/" + resource
}

func (u *UI) repositoriesPage(w http.ResponseWriter, r *http.Request, v *visitor) {
	p, ns := reposAPI+"/repositories", ""
	if v.token.Namespace != store.AllNamespaces {
		ns = v.token.Namespace
		p = nsPath(reposAPI, ns, "repositories")
	}
	live := u.scope(r, "list", ns, "", "")
	var list configv1alpha1.RepositoryList
	if err := u.call(r, v, http.MethodGet, p, nil, &list); err != nil {
		u.failAPI(w, r, v, err)
		return
	}
	u.render(w, r, http.StatusOK, "repositories.html", page{Title: "Repositories", Who: v, Data: list.Items, Live: live})
}

// repositoryData is what a repository's page shows.
type repositoryData struct {
	Repo       configv1alpha1.Repository
	Ready      *readiness
	Deliveries []api.WebhookDelivery
	Packages   []packageRow
	Filter     packageFilter
	// Next is the continue token of the next page of packages, and Skip
	// the package whose revisions it begins with that this page showed.
	Next, Skip string
	CanSync    bool
}

// readiness is a repository's Ready condition.
type readiness struct{ Status, Reason, Message string }

// packageFilter is what the packages of a repository are filtered by.
type packageFilter struct {
	Name, Lifecycle, Label string
	// Continue is the page asked for; Skip the package the previous page
	// showed whole, whose revisions the page may begin with.
	Continue, Skip string
}

// packageRow is a package of a repository's page: its latest published
// revision and its open drafts and proposals, of the revisions the page
// listed.
type packageRow struct {
	Name      string
	Latest    *pkgv1alpha1.PackageRevision
	Published int
	Open      []pkgv1alpha1.PackageRevision
}

func (u *UI) repositoryPage(w http.ResponseWriter, r *http.Request, v *visitor) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	live := u.scope(r, "list", ns, name, "")
	var d repositoryData
	if err := u.call(r, v, http.MethodGet, nsPath(reposAPI, ns, "repositories/"+url.PathEscape(name)), nil, &d.Repo); err != nil {
		u.failAPI(w, r, v, err)
		return
	}
	for _, c := range d.Repo.Status.Conditions {
		if c.Type == "Ready" {
			d.Ready = &readiness{Status: string(c.Status), Reason: c.Reason, Message: c.Message}
		}
	}
	if d.Repo.Status.WebhookURL != "" {
		var list api.WebhookDeliveryList
		if err := u.call(r, v, http.MethodGet, nsPath(reposAPI, ns, "repositories/"+url.PathEscape(name)+"/deliveries?limit=20"), nil, &list); err != nil {
			u.failAPI(w, r, v, err)
			return
		}
		d.Deliveries = list.Items
	}
	q := r.URL.Query()
	d.Filter = packageFilter{Name: q.Get("name"), Lifecycle: q.Get("lifecycle"), Label: q.Get("label"),
		Continue: q.Get("continue"), Skip: q.Get("skip")}
	revs, next, skip, err := u.packagesPage(r, v, ns, name, d.Filter)
	if err != nil {
		u.failAPI(w, r, v, err)
		return
	}
	d.Packages, d.Next, d.Skip = packageRows(revs), next, skip
	d.CanSync = v.may(ns, store.RoleWrite)
	u.render(w, r, http.StatusOK, "repository.html", page{Title: ns + "/" + name, Who: v, Data: d, Live: live})
}

// wholePackageLimit bounds the revisions of the package a page completes.
const wholePackageLimit = 5000

// maxSkipPages bounds the pages a page reads past the revisions of the
// package the previous page showed whole.
const maxSkipPages = 4

// packagesPage lists a page of a repository's revisions, whole packages:
// it drops the revisions the previous page showed (of f.Skip), and
// completes its last package, which may go on in the next page, with all
// of that package's revisions (one list of that package alone). It
// returns the revisions, the continue token of the next page, and the
// package that page is to skip.
func (u *UI) packagesPage(r *http.Request, v *visitor, ns, repo string, f packageFilter) (revs []pkgv1alpha1.PackageRevision, next, skip string, err error) {
	list, err := u.listRevisions(r, v, ns, repo, f, revisionsPerPage)
	if err != nil {
		return nil, "", "", err
	}
	revs, next = list.Items, list.Continue
	for extra := 0; f.Skip != "" && extra < maxSkipPages; extra++ {
		revs = slices.DeleteFunc(revs, func(p pkgv1alpha1.PackageRevision) bool { return p.Spec.PackageName == f.Skip })
		if len(revs) > 0 || next == "" {
			break
		}
		f.Continue = next
		if list, err = u.listRevisions(r, v, ns, repo, f, revisionsPerPage); err != nil {
			return nil, "", "", err
		}
		revs, next = list.Items, list.Continue
	}
	if next == "" || len(revs) == 0 || f.Name != "" {
		return revs, next, "", nil
	}
	last := revs[len(revs)-1].Spec.PackageName
	whole := f
	whole.Name, whole.Continue, whole.Skip = last, "", ""
	all, err := u.listRevisions(r, v, ns, repo, whole, wholePackageLimit)
	if err != nil {
		return nil, "", "", err
	}
	revs = slices.DeleteFunc(revs, func(p pkgv1alpha1.PackageRevision) bool { return p.Spec.PackageName == last })
	return append(revs, all.Items...), next, last, nil
}

// listRevisions lists a page of a repository's revisions, filtered.
func (u *UI) listRevisions(r *http.Request, v *visitor, ns, repo string, f packageFilter, limit int) (*pkgv1alpha1.PackageRevisionList, error) {
	fields := []string{"spec.repository=" + repo}
	if f.Name != "" {
		fields = append(fields, "spec.packageName="+f.Name)
	}
	if f.Lifecycle != "" {
		fields = append(fields, "spec.lifecycle="+f.Lifecycle)
	}
	q := url.Values{"fieldSelector": {strings.Join(fields, ",")}, "limit": {strconv.Itoa(limit)}}
	if f.Label != "" {
		q.Set("labelSelector", f.Label)
	}
	if f.Continue != "" {
		q.Set("continue", f.Continue)
	}
	var list pkgv1alpha1.PackageRevisionList
	err := u.call(r, v, http.MethodGet, nsPath(pkgsAPI, ns, "packagerevisions")+"?"+q.Encode(), nil, &list)
	return &list, err
}

// packageRows groups revisions by package, in package order.
func packageRows(revs []pkgv1alpha1.PackageRevision) []packageRow {
	byName := map[string]*packageRow{}
	var rows []*packageRow
	for _, rev := range revs {
		row := byName[rev.Spec.PackageName]
		if row == nil {
			row = &packageRow{Name: rev.Spec.PackageName}
			byName[row.Name] = row
			rows = append(rows, row)
		}
		switch {
		case rev.Spec.Lifecycle == string(revision.Published):
			// A branch's head is a published revision too, not a release.
			if revision.ParseRevisionNumber(rev.Spec.Revision) > 0 {
				row.Published++
			}
			if rev.Labels[pkgv1alpha1.LatestRevisionLabel] == "true" {
				row.Latest = &rev
			}
		default:
			row.Open = append(row.Open, rev)
		}
	}
	out := make([]packageRow, len(rows))
	for i, row := range rows {
		out[i] = *row
	}
	slices.SortStableFunc(out, func(a, b packageRow) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

func (u *UI) syncRepository(w http.ResponseWriter, r *http.Request, v *visitor) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	if err := u.call(r, v, http.MethodPost, nsPath(reposAPI, ns, "repositories/"+url.PathEscape(name)+"/sync"), struct{}{}, nil); err != nil {
		u.failAPI(w, r, v, err)
		return
	}
	http.Redirect(w, r, Prefix+"repositories/"+url.PathEscape(ns)+"/"+url.PathEscape(name), http.StatusSeeOther)
}
