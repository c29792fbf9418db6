package ui

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/store"
)

// pagedAPI serves a repository's revisions in pages of limit, as the API
// does (name order, a continue token of the offset).
func pagedAPI(revs []pkgv1alpha1.PackageRevision) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		from, _ := strconv.Atoi(r.URL.Query().Get("continue"))
		items := revs
		if _, pkg, ok := strings.Cut(r.URL.Query().Get("fieldSelector"), ",spec.packageName="); ok {
			items = slices.DeleteFunc(slices.Clone(revs), func(p pkgv1alpha1.PackageRevision) bool { return p.Spec.PackageName != pkg })
		}
		to := min(from+limit, len(items))
		list := pkgv1alpha1.PackageRevisionList{Items: items[from:to]}
		if to < len(items) {
			list.Continue = strconv.Itoa(to)
		}
		_ = json.NewEncoder(w).Encode(list)
	})
}

// TestPackagesPage: pages of a repository's packages show each package
// whole, on one page, even where its revisions straddle the API's pages.
func TestPackagesPage(t *testing.T) {
	var revs []pkgv1alpha1.PackageRevision
	sizes := map[string]int{}
	for p := range 90 {
		name := fmt.Sprintf("pkg-%03d", p)
		// Most packages have 7 revisions; one has more than two pages.
		n := 7
		if p == 40 {
			n = 1300
		}
		sizes[name] = n
		for i := range n {
			var rev pkgv1alpha1.PackageRevision
			rev.Name = fmt.Sprintf("r.%s.v%d", name, i+1)
			rev.Spec.PackageName, rev.Spec.Lifecycle, rev.Spec.Revision = name, "Published", fmt.Sprintf("v%d", i+1)
			revs = append(revs, rev)
		}
	}
	u := &UI{cfg: Config{API: pagedAPI(revs), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}}
	v := &visitor{token: &store.Token{Name: "t", Namespace: "*", Role: store.RoleRead}}
	seen := map[string]int{}
	f := packageFilter{}
	for page := 0; page < 20; page++ {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		got, next, skip, err := u.packagesPage(r, v, "default", "r", f)
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range packageRows(got) {
			if seen[row.Name] > 0 {
				t.Errorf("page %d shows %s again", page, row.Name)
			}
			seen[row.Name] += row.Published
		}
		if next == "" {
			break
		}
		f.Continue, f.Skip = next, skip
	}
	if len(seen) != len(sizes) {
		t.Errorf("%d packages shown, want %d", len(seen), len(sizes))
	}
	for name, n := range sizes {
		if seen[name] != n {
			t.Errorf("%s shown with %d published revisions, want %d", name, seen[name], n)
		}
	}
	if seen["pkg-039"] != 7 || seen["pkg-041"] != 7 {
		t.Errorf("the packages around the large one: %d, %d", seen["pkg-039"], seen["pkg-041"])
	}
}
