package revision

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseRef(t *testing.T) {
	root := Config{Repository: "blueprints", Branch: "main"}
	sub := Config{Repository: "deploy", Directory: "/clusters/", Branch: "main"}
	tests := []struct {
		cfg     Config
		ref     string
		want    Source
		ok      bool
		wantErr string
	}{
		{root, "refs/heads/main", Source{Kind: KindBranch, Ref: "refs/heads/main", Revision: "main", Workspace: "main"}, true, ""},
		{root, "refs/heads/feature/x", Source{}, false, ""},
		{root, "refs/heads/drafts/network/vpc/ws1", Source{Kind: KindDraft, Ref: "refs/heads/drafts/network/vpc/ws1", Package: "network/vpc", Workspace: "ws1"}, true, ""},
		{root, "refs/heads/proposed/nginx/review", Source{Kind: KindProposed, Ref: "refs/heads/proposed/nginx/review", Package: "nginx", Workspace: "review"}, true, ""},
		{root, "refs/tags/nginx/v3", Source{Kind: KindTag, Ref: "refs/tags/nginx/v3", Package: "nginx", Revision: "v3", Number: 3}, true, ""},
		{root, "refs/tags/nginx/v1.2.0", Source{Kind: KindTag, Ref: "refs/tags/nginx/v1.2.0", Package: "nginx", Revision: "v1.2.0"}, true, ""},
		{root, "refs/tags/nginx/latest", Source{Kind: KindTag, Ref: "refs/tags/nginx/latest", Package: "nginx", Revision: "latest"}, true, ""},
		{root, "refs/tags/nginx/v01", Source{Kind: KindTag, Ref: "refs/tags/nginx/v01", Package: "nginx", Revision: "v01"}, true, ""},
		{root, "refs/tags/v1.0.0", Source{}, false, ""},
		{root, "refs/heads/deletionProposed/nginx/v2", Source{Kind: KindDeletionProposed, Ref: "refs/heads/deletionProposed/nginx/v2", Package: "nginx", Revision: "v2", Number: 2}, true, ""},
		{root, "refs/heads/deletionProposed/nginx/old", Source{}, true, `a deletion proposal names a revision v<N>, not "old"`},
		{root, "refs/heads/drafts/nginx", Source{}, true, "expected <package>/<workspace>"},
		{root, "refs/heads/drafts/Nginx/ws", Source{}, true, `segment "Nginx" is not an RFC 1123 label`},
		{root, "refs/heads/drafts/nginx/My_WS", Source{}, true, `workspace "My_WS" is not an RFC 1123 label`},
		{sub, "refs/heads/drafts/clusters/prod/web/ws1", Source{Kind: KindDraft, Ref: "refs/heads/drafts/clusters/prod/web/ws1", Package: "prod/web", Workspace: "ws1"}, true, ""},
		{sub, "refs/tags/clusters/prod/web/v2", Source{Kind: KindTag, Ref: "refs/tags/clusters/prod/web/v2", Package: "prod/web", Revision: "v2", Number: 2}, true, ""},
		{sub, "refs/tags/blueprints/nginx/v2", Source{}, false, ""},
		{sub, "refs/tags/clustersx/web/v2", Source{}, false, ""},
		{sub, "refs/tags/clusters/v2", Source{}, false, ""},
		{Config{Repository: "r", Branch: "release/1.0"}, "refs/heads/release/1.0",
			Source{Kind: KindBranch, Ref: "refs/heads/release/1.0", Revision: "release/1.0", Workspace: "release-1-0"}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			got, ok, err := tt.cfg.ParseRef(tt.ref)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func obs(ref string, cfg Config, commit, tree string) Observation {
	src, ok, err := cfg.ParseRef(ref)
	if !ok || err != nil {
		panic(ref)
	}
	return Observation{Source: src, Commit: commit, Tree: tree, By: "Jane <jane@example.com>", At: t0}
}

func branchObs(cfg Config, pkg, commit, tree string) Observation {
	src, _, _ := cfg.ParseRef(BranchesPrefix + cfg.Branch)
	src.Package = pkg
	return Observation{Source: src, Commit: commit, Tree: tree, By: "Jane <jane@example.com>", At: t0}
}

func TestDerive(t *testing.T) {
	cfg := Config{Repository: "catalog", Branch: "main"}
	withWS := func(o Observation, ws string) Observation { o.PublishedWorkspace = ws; return o }
	input := []Observation{
		branchObs(cfg, "nginx", "c3", "t3"),
		obs("refs/tags/nginx/v1", cfg, "c1", "t1"),
		withWS(obs("refs/tags/nginx/v2", cfg, "c2", "t2"), "second"),
		obs("refs/tags/nginx/v3", cfg, "c3", "t3"),
		obs("refs/heads/deletionProposed/nginx/v3", cfg, "c3", "t3"),
		obs("refs/tags/nginx/v1.2.0", cfg, "c1", "t1"),
		obs("refs/heads/drafts/nginx/new", cfg, "d1", "t4"),
		obs("refs/heads/proposed/nginx/review", cfg, "p1", "t5"),
		// Collides with the published v1 and loses its name.
		obs("refs/heads/drafts/nginx/v1", cfg, "d2", "t6"),
		// Names a package its commit does not hold.
		obs("refs/heads/drafts/redis/ws", cfg, "d3", ""),
		// Proposes deleting a revision that does not exist.
		obs("refs/heads/deletionProposed/nginx/v9", cfg, "c3", "t3"),
	}
	got, problems := Derive(cfg, input)
	published := func(name, ws, rev string, n int, commit, tree string, latest bool) Revision {
		return Revision{Name: name, Package: "nginx", Workspace: ws, Revision: rev, Number: n, Lifecycle: Published,
			Ref: "refs/tags/nginx/" + rev, Commit: commit, Tree: tree, PublishedBy: "Jane <jane@example.com>", PublishedAt: t0, CreatedAt: t0, Latest: latest}
	}
	v3 := published("catalog.nginx.v3", "v3", "v3", 3, "c3", "t3", false)
	v3.Lifecycle, v3.DeletionRef = DeletionProposed, "refs/heads/deletionProposed/nginx/v3"
	want := []Revision{
		published("catalog.nginx.v1", "v1", "v1", 1, "c1", "t1", false),
		published("catalog.nginx.second", "second", "v2", 2, "c2", "t2", true),
		v3,
		published("catalog.nginx.v1-2-0", "v1-2-0", "v1.2.0", 0, "c1", "t1", false),
		{Name: "catalog.nginx.main", Package: "nginx", Workspace: "main", Revision: "main", Lifecycle: Published,
			Ref: "refs/heads/main", Commit: "c3", Tree: "t3", PublishedBy: "Jane <jane@example.com>", PublishedAt: t0, CreatedAt: t0},
		{Name: "catalog.nginx.review", Package: "nginx", Workspace: "review", Lifecycle: Proposed, Ref: "refs/heads/proposed/nginx/review", Commit: "p1", Tree: "t5", CreatedAt: t0},
		{Name: "catalog.nginx.new", Package: "nginx", Workspace: "new", Lifecycle: Draft, Ref: "refs/heads/drafts/nginx/new", Commit: "d1", Tree: "t4", CreatedAt: t0},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("revisions (-want +got):\n%s", diff)
	}
	wantProblems := []Problem{
		{Ref: "refs/heads/deletionProposed/nginx/v9", Package: "nginx", Message: "proposes the deletion of nginx/v9, which is not published"},
		{Ref: "refs/heads/drafts/nginx/v1", Package: "nginx", Message: `workspace "v1" of package nginx is already used by refs/tags/nginx/v1`},
		{Ref: "refs/heads/drafts/redis/ws", Package: "redis", Message: "the commit d3 does not contain package redis"},
	}
	if diff := cmp.Diff(wantProblems, problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}

	// The outcome does not depend on the order of the observations.
	reversed := make([]Observation, len(input))
	for i, o := range input {
		reversed[len(input)-1-i] = o
	}
	got2, problems2 := Derive(cfg, reversed)
	if diff := cmp.Diff(got, got2); diff != "" {
		t.Errorf("order matters for revisions:\n%s", diff)
	}
	if diff := cmp.Diff(problems, problems2); diff != "" {
		t.Errorf("order matters for problems:\n%s", diff)
	}
}

func TestDeriveLatestSkipsDeletionProposed(t *testing.T) {
	cfg := Config{Repository: "r", Directory: "pkgs", Branch: "main"}
	revs, _ := Derive(cfg, []Observation{
		obs("refs/tags/pkgs/app/v1", cfg, "c1", "t1"),
		obs("refs/tags/pkgs/app/v2", cfg, "c2", "t2"),
		obs("refs/heads/deletionProposed/pkgs/app/v2", cfg, "c2", "t2"),
	})
	for _, r := range revs {
		if r.Latest != (r.Revision == "v1") {
			t.Errorf("%s: latest = %v", r.Name, r.Latest)
		}
	}
	if revs[0].Name != "r.app.v1" {
		t.Errorf("name = %s", revs[0].Name)
	}
}

func TestDeriveObservationProblem(t *testing.T) {
	cfg := Config{Repository: "r", Branch: "main"}
	o := obs("refs/tags/app/v1", cfg, "c1", "t1")
	o.Problem = "nested package: a Kptfile below the package root (sub/Kptfile)"
	revs, problems := Derive(cfg, []Observation{o})
	if len(revs) != 0 || len(problems) != 1 || problems[0].Message != o.Problem {
		t.Errorf("revs %v problems %v", revs, problems)
	}
}

func TestPublishedWorkspace(t *testing.T) {
	tests := []struct {
		name     string
		messages []string
		full     string
		n        int
		want     string
	}{
		{"trailers", []string{"", "Publish nginx v2\n\nPackage: nginx\nWorkspace: tuning\nRevision: v2\n"}, "nginx", 2, "tuning"},
		{"trailers for another revision", []string{"", "Publish\n\nPackage: nginx\nWorkspace: tuning\nRevision: v1\n"}, "nginx", 2, ""},
		{"trailers for another package", []string{"Package: redis\nWorkspace: w\nRevision: v2\n"}, "nginx", 2, ""},
		{"several packages", []string{"Publish two\n\nPackage: a\nWorkspace: wa\nRevision: v1\nPackage: b\nWorkspace: wb\nRevision: v4"}, "b", 4, "wb"},
		{"annotated tag first", []string{"Package: nginx\nWorkspace: from-tag\n", "x\n\nPackage: nginx\nWorkspace: from-commit\n"}, "nginx", 1, "from-tag"},
		{"trailers only in the last paragraph", []string{"Package: nginx\nWorkspace: early\n\nSigned-off-by: x"}, "nginx", 1, ""},
		{"porch, revision as a string", []string{"", "Approve blueprints/nginx/v1\n\nkpt:{\"package\":\"blueprints/nginx\",\"workspaceName\":\"ws-1\",\"revision\":\"v1\"}\n"}, "blueprints/nginx", 1, "ws-1"},
		{"porch, revision as a number", []string{"Approving package revision blueprints/nginx/3\n\nkpt:{\"package\":\"blueprints/nginx\",\"workspaceName\":\"third\",\"revision\":3}\n"}, "blueprints/nginx", 3, "third"},
		{"porch line for another revision", []string{"kpt:{\"package\":\"nginx\",\"workspaceName\":\"w\",\"revision\":\"v1\"}"}, "nginx", 2, ""},
		{"porch line that is not JSON", []string{"kpt:{nope"}, "nginx", 1, ""},
		{"invalid workspace", []string{"Package: nginx\nWorkspace: Not_A_Label\n"}, "nginx", 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PublishedWorkspace(tt.messages, tt.full, tt.n); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	if got := PublishTrailers("a/b", "ws", 3); got != "Package: a/b\nWorkspace: ws\nRevision: v3\n" {
		t.Errorf("PublishTrailers = %q", got)
	}
}

func TestNames(t *testing.T) {
	for in, want := range map[string]string{"v1.2.0": "v1-2-0", "Release/1.0": "release-1-0", "--x--": "x", "___": "", "main": "main"} {
		if got := LabelFrom(in); got != want {
			t.Errorf("LabelFrom(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]int{"v1": 1, "v10": 10, "v0": 0, "v01": 0, "v": 0, "1": 0, "v1a": 0, "v-1": 0} {
		if got := ParseRevisionNumber(in); got != want {
			t.Errorf("ParseRevisionNumber(%q) = %d, want %d", in, got, want)
		}
	}
	if got := NextRevision([]int{3, 1, 2}); got != 4 {
		t.Errorf("NextRevision = %d", got)
	}
	if got := NextRevision(nil); got != 1 {
		t.Errorf("NextRevision(nil) = %d", got)
	}
	if got := ObjectName("repo", "a/b", "ws"); got != "repo.a.b.ws" {
		t.Errorf("ObjectName = %s", got)
	}
}

func TestPublishedPullRequest(t *testing.T) {
	tests := []struct {
		name     string
		messages []string
		full     string
		n        int
		want     int
	}{
		{"trailer", []string{"Publish nginx v2 from pull request #7\n\nPackage: nginx\nWorkspace: w\nRevision: v2\nPull-Request: 7\n"}, "nginx", 2, 7},
		{"with a hash", []string{"x\n\nPackage: nginx\nRevision: v2\nPull-Request: #12\n"}, "nginx", 2, 12},
		{"another revision", []string{"x\n\nPackage: nginx\nRevision: v1\nPull-Request: 7\n"}, "nginx", 2, 0},
		{"another package's group", []string{"x\n\nPackage: a\nPull-Request: 3\nPackage: nginx\nRevision: v2\n"}, "nginx", 2, 0},
		{"not a number", []string{"x\n\nPackage: nginx\nPull-Request: seven\n"}, "nginx", 2, 0},
		{"none", []string{"Merge pull request #7"}, "nginx", 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PublishedPullRequest(tt.messages, tt.full, tt.n); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

// TestDerivePullRequests: a draft an open pull request proposes is
// Proposed with its number; a tag keeps the number of the request it was
// merged from.
func TestDerivePullRequests(t *testing.T) {
	cfg := Config{Repository: "gh", Branch: "main"}
	obs := []Observation{
		{Source: Source{Kind: KindDraft, Ref: "refs/heads/drafts/nginx/a", Package: "nginx", Workspace: "a"}, Commit: "c1", Tree: "t1", PullRequest: 7},
		{Source: Source{Kind: KindDraft, Ref: "refs/heads/drafts/nginx/b", Package: "nginx", Workspace: "b"}, Commit: "c2", Tree: "t2"},
		{Source: Source{Kind: KindTag, Ref: "refs/tags/nginx/v1", Package: "nginx", Revision: "v1", Number: 1}, Commit: "c3", Tree: "t3", PullRequest: 5, PublishedWorkspace: "first"},
	}
	revs, problems := Derive(cfg, obs)
	if len(problems) != 0 {
		t.Fatalf("problems: %v", problems)
	}
	got := map[string]Revision{}
	for _, r := range revs {
		got[r.Name] = r
	}
	if r := got["gh.nginx.a"]; r.Lifecycle != Proposed || r.PullRequest != 7 {
		t.Errorf("draft with a pull request: %+v", r)
	}
	if r := got["gh.nginx.b"]; r.Lifecycle != Draft || r.PullRequest != 0 {
		t.Errorf("draft: %+v", r)
	}
	if r := got["gh.nginx.first"]; r.Lifecycle != Published || r.PullRequest != 5 {
		t.Errorf("published: %+v", r)
	}
}

func TestLooksLikeRevision(t *testing.T) {
	for in, want := range map[string]bool{
		"v1": false, "v12": false, "v01": true, "v099": true, "V3": true, "v0": true, "V": false, "v": false,
		"v1.2.0": false, "latest": false, "va": false, "v1a": false, "": false,
	} {
		if got := LooksLikeRevision(in); got != want {
			t.Errorf("LooksLikeRevision(%q) = %v, want %v", in, got, want)
		}
	}
}
