package payload

import (
	"strings"
	"testing"
)

// TestPullRequestWithoutNumber: an event about a pull (merge) request of an
// action pkgserver acts on must say which request; one that does not is an
// error, not a delivery done with nothing to do.
func TestPullRequestWithoutNumber(t *testing.T) {
	for _, tc := range []struct {
		name, forge, event, body, want string
	}{
		{"gitlab open without iid", GitLab, "Merge Request Hook",
			`{"object_kind":"merge_request","project":{"id":15,"path_with_namespace":"acme/blueprints"},"object_attributes":{"source_branch":"drafts/a/b","action":"open"}}`,
			"merge request payload without an iid"},
		{"gitlab merge with iid 0", GitLab, "Merge Request Hook",
			`{"object_kind":"merge_request","object_attributes":{"iid":0,"source_branch":"drafts/a/b","action":"merge"}}`,
			"merge request payload without an iid"},
		{"github opened without number", GitHub, "pull_request",
			`{"action":"opened","pull_request":{"head":{"ref":"drafts/a/b","sha":"x"}},"repository":{"full_name":"acme/blueprints"}}`,
			"pull_request payload without a number"},
	} {
		h, err := Parse(tc.forge, tc.event, []byte(tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %+v, %v; want an error %q", tc.name, h, err, tc.want)
		}
	}
	// Actions pkgserver does not act on need no number.
	for _, tc := range []struct{ forge, event, body string }{
		{GitLab, "Merge Request Hook", `{"object_kind":"merge_request","object_attributes":{"source_branch":"drafts/a/b","action":"approved"}}`},
		{GitHub, "pull_request", `{"action":"labeled","pull_request":{"head":{"ref":"drafts/a/b","sha":"x"}}}`},
	} {
		if h, err := Parse(tc.forge, tc.event, []byte(tc.body)); err != nil || h.PullRequest != 0 {
			t.Errorf("%s %s: %+v, %v; want no pull request and no error", tc.forge, tc.body, h, err)
		}
	}
}
