package ui

import (
	"net/http"
	"net/url"
	"path"
	"strings"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/krm"
)

// upstream is where a package was cloned from, as its Kptfile says, and
// the upstream revision in a repository registered here, when one is.
type upstream struct {
	Repo, Directory, Ref, Strategy string
	// Commit is the upstream lock's commit.
	Commit string
	// Revision is the name of the upstream revision here ("" when the
	// repository is not registered in the namespace, or has no such
	// revision).
	Revision string
}

// upstreamOf reads a package's upstream from its Kptfile and looks its
// revision up among the namespace's repositories; nil without an upstream.
func (u *UI) upstreamOf(r *http.Request, v *visitor, ns, kptfile string) *upstream {
	kf, errs := krm.ParseKptfile([]byte(kptfile))
	if kf == nil || len(errs) > 0 || kf.Upstream == nil || kf.Upstream.Git == nil {
		return nil
	}
	up := &upstream{Repo: kf.Upstream.Git.Repo, Directory: kf.Upstream.Git.Directory, Ref: kf.Upstream.Git.Ref,
		Strategy: kf.Upstream.UpdateStrategy}
	if l := kf.UpstreamLock; l != nil && l.Git != nil {
		up.Commit = l.Git.Commit
	}
	var repos configv1alpha1.RepositoryList
	if err := u.call(r, v, http.MethodGet, nsPath(reposAPI, ns, "repositories"), nil, &repos); err != nil {
		return up
	}
	repo := ""
	for _, rp := range repos.Items {
		urls := []string{rp.Spec.Git.URL}
		if c := rp.Status.CloneURLs; c != nil {
			urls = append(urls, c.HTTP, c.SSH)
		}
		for _, x := range urls {
			if x != "" && strings.TrimSuffix(x, ".git") == strings.TrimSuffix(up.Repo, ".git") {
				repo = rp.Name
			}
		}
	}
	pkg := strings.Trim(up.Directory, "/")
	if repo == "" || pkg == "" {
		return up
	}
	// Porch and kpt name a published revision's ref <package>/<revision>.
	rev := path.Base(up.Ref)
	q := url.Values{"fieldSelector": {"spec.repository=" + repo + ",spec.packageName=" + pkg + ",spec.revision=" + rev}}
	var list pkgv1alpha1.PackageRevisionList
	if err := u.call(r, v, http.MethodGet, nsPath(pkgsAPI, ns, "packagerevisions")+"?"+q.Encode(), nil, &list); err == nil && len(list.Items) == 1 {
		up.Revision = list.Items[0].Name
	}
	return up
}
