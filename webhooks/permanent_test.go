package webhooks_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/pkgserver/pkgserver/webhooks"
	"github.com/pkgserver/pkgserver/webhooks/forgetest"
)

// TestPermanentForgeError: a pull (merge) request the forge answers 404 for
// is not tried again: the delivery is recorded failed at its first attempt,
// with the forge's answer naming the request (method, path, the request's
// number), after one call to the API.
func TestPermanentForgeError(t *testing.T) {
	f := setup(t)
	head := f.remote.Rev("main")
	f.githubPullRequest("pr-gone", "opened", forgetest.PullRequest{Number: 99, State: "open", HeadRef: "drafts/nginx/gone",
		HeadSHA: head, BaseSHA: head})
	f.gitlabMergeRequest("mr-gone", "open", forgetest.MergeRequest{IID: 77, State: "opened", SourceBranch: "drafts/nginx/gone", SHA: head})
	for _, tc := range []struct {
		forge, id string
		calls     func() []forgetest.Call
		want      []string
	}{
		{webhooks.GitHub, "pr-gone", func() []forgetest.Call { return f.github.CallsTo(http.MethodGet, "/pulls/99") },
			[]string{"404", "GET ", "/repos/acme/blueprints/pulls/99", "pull request #99 of acme/blueprints"}},
		{webhooks.GitLab, "mr-gone", func() []forgetest.Call { return f.gitlab.CallsTo(http.MethodGet, "/merge_requests/77") },
			[]string{"404", "GET ", "/projects/acme%2Fblueprints/merge_requests/77", "merge request !77 of acme/blueprints"}},
	} {
		d := f.waitDone(tc.forge, tc.id)
		t.Logf("%s: %s", tc.id, d.Error)
		if d.Attempts != 1 {
			t.Errorf("%s: %d attempts (error %q); want 1", tc.id, d.Attempts, d.Error)
		}
		for _, w := range tc.want {
			if !strings.Contains(d.Error, w) {
				t.Errorf("%s: error %q does not say %q", tc.id, d.Error, w)
			}
		}
		if n := len(tc.calls()); n != 1 {
			t.Errorf("%s: %d calls to the forge's API, want 1", tc.id, n)
		}
	}
}
