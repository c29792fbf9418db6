package revision

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestObserve(t *testing.T) {
	cfg := Config{Repository: "catalog", Directory: "/pkgs/", Branch: "main"}
	src := func(ref string) Source {
		t.Helper()
		s, ok, err := cfg.ParseRef(ref)
		if err != nil || !ok {
			t.Fatalf("ParseRef(%q) = %v, %v", ref, ok, err)
		}
		s.Package = "nginx" // the branch's observations are per package
		return s
	}
	t1, t2 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC), time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	commit := func(msg string) Made { return Made{Name: "Carl", Email: "carl@example.com", When: t1, Message: msg} }
	published := "Publish nginx\n\n" + PublishTrailers("pkgs/nginx", "tuning", 2) + TrailerPullRequest + ": 7\n"
	// Porch's approval commit: Porch commits, the approver is the author.
	kpt := `kpt:{"package":"pkgs/nginx","workspaceName":"tuning","revision":"2"}` + "\n"
	approval := "Approving package revision pkgs/nginx/2\n\n" + kpt
	approved := func(msg string) Made {
		return Made{Name: "Package Orchestration Service", Email: "porch@kpt.dev", When: t1, Message: msg,
			AuthorEmail: "jane@example.com", AuthorWhen: t2}
	}
	const porch = "Package Orchestration Service <porch@kpt.dev>"
	tests := []struct {
		name      string
		ref       string
		committed Made
		tagged    *Made
		want      Observation
	}{
		{name: "lightweight v<N> tag: the committer publishes, the commit's trailers name the workspace",
			ref: "refs/tags/pkgs/nginx/v2", committed: commit(published),
			want: Observation{By: "Carl <carl@example.com>", At: t1, PublishedWorkspace: "tuning", PullRequest: 7}},
		{name: "annotated tag: the tagger publishes, the tag's trailers before the commit's",
			ref: "refs/tags/pkgs/nginx/v2", committed: commit(published),
			tagged: &Made{Name: "Tina", Email: "tina@example.com", When: t2, Message: "Publish\n\n" + PublishTrailers("pkgs/nginx", "other", 2)},
			want:   Observation{By: "Tina <tina@example.com>", At: t2, PublishedWorkspace: "other", PullRequest: 7}},
		{name: "annotated tag without a tagger: the committer",
			ref: "refs/tags/pkgs/nginx/v2", committed: commit(""), tagged: &Made{},
			want: Observation{By: "Carl <carl@example.com>", At: t1}},
		{name: "trailers of another revision do not count",
			ref: "refs/tags/pkgs/nginx/v3", committed: commit(published),
			want: Observation{By: "Carl <carl@example.com>", At: t1}},
		{name: "a tag of another shape has no publish record",
			ref: "refs/tags/pkgs/nginx/v1.2.0", committed: commit(published),
			want: Observation{By: "Carl <carl@example.com>", At: t1}},
		{name: "a v<N> tag Porch published: the approval commit's author, by email, at its author time",
			ref: "refs/tags/pkgs/nginx/v2", committed: approved(approval),
			want: Observation{By: "jane@example.com", At: t2, PublishedWorkspace: "tuning"}},
		{name: "an annotated tag of a Porch approval: still its author, as Porch reports it",
			ref: "refs/tags/pkgs/nginx/v2", committed: approved(approval), tagged: &Made{Name: "Tina", Email: "tina@example.com", When: t1},
			want: Observation{By: "jane@example.com", At: t2, PublishedWorkspace: "tuning"}},
		// Porch's approval of 2022: an empty commit, no kpt: line.
		{name: "a v<N> tag the Porch of 2022 approved: its author too",
			ref: "refs/tags/pkgs/nginx/v2", committed: approved("Approve pkgs/nginx/v2"),
			want: Observation{By: "jane@example.com", At: t2}},
		{name: "the same message committed by someone else than Porch: the committer",
			ref: "refs/tags/pkgs/nginx/v2", committed: Made{Name: "Carl", Email: "carl@example.com", When: t1, Message: "Approve pkgs/nginx/v2",
				AuthorEmail: "jane@example.com", AuthorWhen: t2},
			want: Observation{By: "Carl <carl@example.com>", At: t1}},
		{name: "Porch's 2022 approval of another revision: the committer",
			ref: "refs/tags/pkgs/nginx/v3", committed: approved("Approve pkgs/nginx/v2"),
			want: Observation{By: porch, At: t1}},
		{name: "Porch's record of another revision: the committer",
			ref: "refs/tags/pkgs/nginx/v3", committed: approved(approval),
			want: Observation{By: porch, At: t1}},
		{name: "pkgserver's trailers name the publication: the committer",
			ref: "refs/tags/pkgs/nginx/v2", committed: approved(published + kpt),
			want: Observation{By: porch, At: t1, PublishedWorkspace: "tuning", PullRequest: 7}},
		{name: "an approval whose author has no email: the committer",
			ref: "refs/tags/pkgs/nginx/v2", committed: Made{Name: "Carl", Email: "carl@example.com", When: t1, Message: approval, AuthorWhen: t2},
			want: Observation{By: "Carl <carl@example.com>", At: t1, PublishedWorkspace: "tuning"}},
		{name: "the head of the branch keeps its committer, approval or not",
			ref: "refs/heads/main", committed: approved(approval),
			want: Observation{By: porch, At: t1}},
		{name: "the head of the branch is published by its committer",
			ref: "refs/heads/main", committed: Made{Name: "Carl", When: t1, Message: published},
			want: Observation{By: "Carl", At: t1}},
		{name: "a draft is made, not published",
			ref: "refs/heads/drafts/pkgs/nginx/tuning", committed: commit(published),
			want: Observation{At: t1}},
		{name: "a proposal is made, not published",
			ref: "refs/heads/proposed/pkgs/nginx/tuning", committed: commit(published),
			want: Observation{At: t1}},
		{name: "a deletion proposal is made, not published",
			ref: "refs/heads/deletionProposed/pkgs/nginx/v2", committed: commit(published),
			want: Observation{At: t1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := src(tt.ref)
			got := Observe(cfg, s, "c1", "t1", tt.committed, tt.tagged)
			tt.want.Source, tt.want.Commit, tt.want.Tree = s, "c1", "t1"
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Observe (-want +got):\n%s", diff)
			}
		})
	}
}
