package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestSelectorBounds: selectors of more than 100 requirements are refused
// with 400 saying so, field selectors as label selectors, on every
// resource; 100 are served.
func TestSelectorBounds(t *testing.T) {
	h := start(t)
	terms := func(term string, n int) string {
		return url.QueryEscape(strings.TrimSuffix(strings.Repeat(term+",", n), ","))
	}
	for _, resource := range []string{allReposPath, allResPath, "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions"} {
		for _, tt := range []struct {
			query string
			code  int
			msg   string
		}{
			{"?fieldSelector=" + terms("metadata.name=a", 100), http.StatusOK, ""},
			{"?fieldSelector=" + terms("metadata.name=a", 101), http.StatusBadRequest, "fieldSelector has 101 requirements: at most 100 are supported"},
			{"?labelSelector=" + terms("a=b", 100), http.StatusOK, ""},
			{"?labelSelector=" + terms("a=b", 998), http.StatusBadRequest, "labelSelector has 998 requirements: at most 100 are supported"},
			{"?watch=true&labelSelector=" + terms("a=b", 101), http.StatusBadRequest, "labelSelector has 101 requirements: at most 100 are supported"},
		} {
			code, body := h.do(http.MethodGet, resource+tt.query, "admin", nil)
			if tt.code == http.StatusOK {
				if code != http.StatusOK {
					t.Errorf("%s%.60s: %d %s", resource, tt.query, code, body)
				}
				continue
			}
			if st := h.status(code, body, tt.code); st.Message != tt.msg {
				t.Errorf("%s%.60s: %q, want %q", resource, tt.query, st.Message, tt.msg)
			}
		}
	}
}
