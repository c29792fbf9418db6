package payload

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pkgserver/pkgserver/internal/revision"
)

// The forges' published example payloads (testdata/examples, README.md
// there says where from): what real producers send, which every parser must
// accept and classify as the event says.

// actedOn are the pull (merge) request actions whose request pkgserver
// reads from the forge.
var (
	githubActedOn = []string{"opened", "reopened", "synchronize", "closed", "edited", "ready_for_review", "converted_to_draft"}
	gitlabActedOn = []string{"open", "reopen", "update", "merge", "close"}
)

// example is one example payload: its file, the event it is delivered as,
// and its body.
type example struct {
	file, event string
	body        []byte
}

// examples reads the example payloads of a forge; event gives the event a
// file is delivered as.
func examples(t testing.TB, forge string, event func(file string, body []byte) string) []example {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "examples", forge, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no %s examples: %v", forge, err)
	}
	var out []example
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, example{file: filepath.Base(f), event: event(filepath.Base(f), b), body: b})
	}
	return out
}

// githubEvent: a GitHub example's file is named <event>.<n>.json.
func githubEvent(file string, _ []byte) string { return strings.SplitN(file, ".", 2)[0] }

// gitlabEvent: a GitLab example is delivered as the event of its
// object_kind.
func gitlabEvent(_ string, body []byte) string {
	var v struct {
		ObjectKind string `json:"object_kind"`
	}
	_ = json.Unmarshal(body, &v)
	return map[string]string{"push": "Push Hook", "tag_push": "Tag Push Hook", "merge_request": "Merge Request Hook"}[v.ObjectKind]
}

// githubPayload is what the test reads of a GitHub example, independently
// of the parser.
type githubPayload struct {
	Action     string `json:"action"`
	Number     int    `json:"number"`
	Ref        string `json:"ref"`
	RefType    string `json:"ref_type"`
	After      string `json:"after"`
	Repository struct {
		FullName string `json:"full_name"`
	} `json:"repository"`
	PullRequest struct {
		Head struct {
			Ref string `json:"ref"`
			SHA string `json:"sha"`
		} `json:"head"`
	} `json:"pull_request"`
}

func TestGitHubExamples(t *testing.T) {
	seen := map[string]int{}
	for _, ex := range examples(t, GitHub, githubEvent) {
		seen[ex.event]++
		var raw githubPayload
		if err := json.Unmarshal(ex.body, &raw); err != nil {
			t.Fatalf("%s: %v", ex.file, err)
		}
		h, err := Parse(GitHub, ex.event, ex.body)
		if err != nil {
			t.Errorf("%s: %v", ex.file, err)
			continue
		}
		var want Hint
		switch ex.event {
		case "ping":
			want = Hint{Ping: true}
		case "push":
			want = Hint{Sync: true, Push: true, Repository: raw.Repository.FullName, Refs: []revision.RefUpdate{{Ref: raw.Ref, New: raw.After}}}
		case "create", "delete":
			ref := "refs/heads/" + raw.Ref
			if raw.RefType == "tag" {
				ref = "refs/tags/" + raw.Ref
			}
			want = Hint{Sync: true, Repository: raw.Repository.FullName, Refs: []revision.RefUpdate{{Ref: ref}}}
		case "pull_request":
			want = Hint{Sync: true, Repository: raw.Repository.FullName,
				Refs: []revision.RefUpdate{{Ref: "refs/heads/" + raw.PullRequest.Head.Ref, New: raw.PullRequest.Head.SHA}}}
			if slices.Contains(githubActedOn, raw.Action) {
				want.PullRequest = raw.Number
			}
		default:
			t.Fatalf("%s: an example of event %q", ex.file, ex.event)
		}
		// The old target is a hint the test does not restate.
		for i := range h.Refs {
			h.Refs[i].Old = ""
		}
		if !hintEqual(h, &want) {
			t.Errorf("%s: parsed as %+v, want %+v", ex.file, h, want)
		}
		if want.Sync && (want.Repository == "" || !strings.HasPrefix(h.Refs[0].Ref, "refs/")) {
			t.Errorf("%s: a sync without its repository or a full ref: %+v", ex.file, h)
		}
		if ex.event == "pull_request" && slices.Contains(githubActedOn, raw.Action) && h.PullRequest <= 0 {
			t.Errorf("%s: action %s without its pull request", ex.file, raw.Action)
		}
	}
	for _, ev := range []string{"ping", "push", "create", "delete", "pull_request"} {
		if seen[ev] == 0 {
			t.Errorf("no example of %s", ev)
		}
	}
}

// gitlabPayload is what the test reads of a GitLab example.
type gitlabPayload struct {
	ObjectKind string `json:"object_kind"`
	Ref        string `json:"ref"`
	After      string `json:"after"`
	ProjectID  int    `json:"project_id"`
	Project    struct {
		ID                int    `json:"id"`
		PathWithNamespace string `json:"path_with_namespace"`
	} `json:"project"`
	ObjectAttributes struct {
		IID          int    `json:"iid"`
		Action       string `json:"action"`
		SourceBranch string `json:"source_branch"`
	} `json:"object_attributes"`
}

// gitlabRefused are the GitLab examples a parser must refuse, and why:
// group_merge_request.json's attribute names end in a space ("iid "), so
// that it is a merge event without its iid.
var gitlabRefused = map[string]string{"group_merge_request.json": "merge request payload without an iid"}

func TestGitLabExamples(t *testing.T) {
	seen := map[string]int{}
	for _, ex := range examples(t, GitLab, gitlabEvent) {
		seen[ex.event]++
		var raw gitlabPayload
		if err := json.Unmarshal(ex.body, &raw); err != nil {
			t.Fatalf("%s: %v", ex.file, err)
		}
		h, err := Parse(GitLab, ex.event, ex.body)
		if why, ok := gitlabRefused[ex.file]; ok {
			if err == nil || !strings.Contains(err.Error(), why) {
				t.Errorf("%s: %+v, %v; want an error %q", ex.file, h, err, why)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", ex.file, err)
			continue
		}
		var want Hint
		switch ex.event {
		case "Push Hook", "Tag Push Hook":
			want = Hint{Sync: true, Push: true, Repository: raw.Project.PathWithNamespace, Project: raw.ProjectID,
				Refs: []revision.RefUpdate{{Ref: raw.Ref, New: raw.After}}}
			prefix := map[string]string{"Push Hook": "refs/heads/", "Tag Push Hook": "refs/tags/"}[ex.event]
			if !strings.HasPrefix(h.Refs[0].Ref, prefix) {
				t.Errorf("%s: ref %q, want one under %s", ex.file, h.Refs[0].Ref, prefix)
			}
		case "Merge Request Hook":
			want = Hint{Sync: true, Repository: raw.Project.PathWithNamespace, Project: raw.Project.ID,
				Refs: []revision.RefUpdate{{Ref: "refs/heads/" + raw.ObjectAttributes.SourceBranch}}}
			if slices.Contains(gitlabActedOn, raw.ObjectAttributes.Action) {
				want.PullRequest = raw.ObjectAttributes.IID
				if h.PullRequest <= 0 {
					t.Errorf("%s: action %s without its merge request", ex.file, raw.ObjectAttributes.Action)
				}
			}
		default:
			t.Fatalf("%s: an example of event %q", ex.file, ex.event)
		}
		for i := range h.Refs {
			h.Refs[i].Old = ""
		}
		if !hintEqual(h, &want) {
			t.Errorf("%s: parsed as %+v, want %+v", ex.file, h, want)
		}
	}
	for _, ev := range []string{"Push Hook", "Tag Push Hook", "Merge Request Hook"} {
		if seen[ev] == 0 {
			t.Errorf("no example of %s", ev)
		}
	}
}

func hintEqual(a, b *Hint) bool {
	return a.Sync == b.Sync && a.Ping == b.Ping && a.Push == b.Push && a.PullRequest == b.PullRequest &&
		a.Repository == b.Repository && a.Project == b.Project && slices.Equal(a.Refs, b.Refs)
}
