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
// with the forge's answer, after one call to the API.
func TestPermanentForgeError(t *testing.T) {
	f := setup(t)
	head := f.remote.Rev("main")
	f.githubPullRequest("pr-gone", "opened", forgetest.PullRequest{Number: 99, State: "open", HeadRef: "drafts/nginx/gone",
		HeadSHA: head, BaseSHA: head})
	f.gitlabMergeRequest("mr-gone", "open", forgetest.MergeRequest{IID: 77, State: "opened", SourceBranch: "drafts/nginx/gone", SHA: head})
	for _, tc := range []struct {
		forge, id string
		calls     func() []forgetest.Call
		want      string
	}{
		{webhooks.GitHub, "pr-gone", func() []forgetest.Call { return f.github.CallsTo(http.MethodGet, "/pulls/99") }, "404"},
		{webhooks.GitLab, "mr-gone", func() []forgetest.Call { return f.gitlab.CallsTo(http.MethodGet, "/merge_requests/77") }, "404"},
	} {
		d := f.waitDone(tc.forge, tc.id)
		if d.Attempts != 1 || !strings.Contains(d.Error, tc.want) {
			t.Errorf("%s: %d attempts, error %q; want 1 attempt failed with %s", tc.id, d.Attempts, d.Error, tc.want)
		}
		if n := len(tc.calls()); n != 1 {
			t.Errorf("%s: %d calls to the forge's API, want 1", tc.id, n)
		}
	}
}
