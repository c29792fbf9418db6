package payload

import (
	"os"
	"strings"
	"testing"
)

// FuzzParseGitHub: no payload makes the GitHub parser panic, and what it
// accepts as a push names a ref. The forges' example payloads are among
// its seeds.
func FuzzParseGitHub(f *testing.F) {
	seed, _ := os.ReadFile("../testdata/github-push.json")
	f.Add("push", seed)
	f.Add("create", []byte(`{"ref":"v1","ref_type":"tag"}`))
	f.Add("delete", []byte(`{"ref":"drafts/a/b","ref_type":"branch"}`))
	f.Add("pull_request", []byte(`{"action":"opened","pull_request":{"head":{"ref":"drafts/a/b","sha":"x"}}}`))
	f.Add("ping", []byte(`{"zen":"z"}`))
	pr, _ := os.ReadFile("../testdata/github-pull-request.json")
	f.Add("pull_request", []byte(strings.NewReplacer("NUMBER", "7", "MERGED", "true").Replace(string(pr))))
	for _, ex := range examples(f, GitHub, githubEvent) {
		f.Add(ex.event, ex.body)
	}
	f.Fuzz(func(t *testing.T, event string, payload []byte) {
		h, err := Parse(GitHub, event, payload)
		if err == nil && h.Sync && len(h.Refs) == 0 {
			t.Errorf("%s: a sync without a ref", event)
		}
		if err == nil && h.PullRequest < 0 {
			t.Errorf("%s: pull request %d", event, h.PullRequest)
		}
	})
}

// FuzzParseGitLab: likewise for GitLab's payloads.
func FuzzParseGitLab(f *testing.F) {
	seed, _ := os.ReadFile("../testdata/gitlab-push.json")
	f.Add("Push Hook", seed)
	f.Add("Tag Push Hook", []byte(`{"object_kind":"tag_push","ref":"refs/tags/a/v1"}`))
	f.Add("Merge Request Hook", []byte(`{"object_kind":"merge_request","object_attributes":{"source_branch":"drafts/a/b","action":"open"}}`))
	mr, _ := os.ReadFile("../testdata/gitlab-merge-request.json")
	f.Add("Merge Request Hook", []byte(strings.NewReplacer("IID", "3", "MERGESHA", "null").Replace(string(mr))))
	for _, ex := range examples(f, GitLab, gitlabEvent) {
		f.Add(ex.event, ex.body)
	}
	f.Fuzz(func(t *testing.T, event string, payload []byte) {
		h, err := Parse(GitLab, event, payload)
		if err == nil && h.Sync && len(h.Refs) == 0 && event != "Merge Request Hook" {
			t.Errorf("%s: a sync without a ref", event)
		}
	})
}
