package forgetest_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-github/v75/github"
	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/pkgserver/pkgserver/webhooks/forgetest"
)

// git runs git in dir and returns its trimmed output.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+t.TempDir(),
		"GIT_AUTHOR_NAME=A", "GIT_AUTHOR_EMAIL=a@example.com",
		"GIT_COMMITTER_NAME=A", "GIT_COMMITTER_EMAIL=a@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// bareRepo creates a bare repository whose main branch holds one commit.
func bareRepo(t *testing.T) (dir, commit string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "remote.git")
	git(t, t.TempDir(), "init", "--bare", "--initial-branch=main", dir)
	tree := git(t, dir, "mktree") // the empty tree
	commit = git(t, dir, "commit-tree", "-m", "initial commit", tree)
	git(t, dir, "update-ref", "refs/heads/main", commit)
	return dir, commit
}

func ghClient(t *testing.T, gh *forgetest.GitHub, token string) *github.Client {
	t.Helper()
	c := github.NewClient(nil).WithAuthToken(token)
	u, err := url.Parse(gh.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	c.BaseURL = u
	return c
}

// ghStatus returns the status code of a go-github error, or 0.
func ghStatus(err error) (int, string) {
	var e *github.ErrorResponse
	if errors.As(err, &e) {
		return e.Response.StatusCode, e.Message
	}
	return 0, ""
}

func statuses(calls []forgetest.Call) []int {
	var out []int
	for _, c := range calls {
		out = append(out, c.Status)
	}
	return out
}

func TestGitHubPullRequest(t *testing.T) {
	dir, commit := bareRepo(t)
	gh := forgetest.NewGitHub(t, dir, "acme", "blueprints", "s3cret")
	c := ghClient(t, gh, "s3cret")
	ctx := context.Background()
	gh.SetPullRequest(forgetest.PullRequest{Number: 7, Merged: true, State: "closed", MergeCommitSHA: commit,
		HeadRef: "feature", HeadSHA: commit, BaseRef: "main", BaseSHA: commit, HeadRepo: "fork/blueprints", Title: "Add"})

	pr, _, err := c.PullRequests.Get(ctx, "acme", "blueprints", 7)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{pr.GetState(), pr.GetMergeCommitSHA(), pr.GetHead().GetRef(), pr.GetHead().GetRepo().GetFullName(),
		pr.GetHead().GetLabel(), pr.GetBase().GetRepo().GetFullName(), pr.GetTitle()}
	want := []string{"closed", commit, "feature", "fork/blueprints", "fork:feature", "acme/blueprints", "Add"}
	if diff := cmp.Diff(got, want); diff != "" || !pr.GetMerged() || pr.GetNumber() != 7 {
		t.Errorf("pull request (-got +want):\n%s merged=%v", diff, pr.GetMerged())
	}
	if _, _, err := c.PullRequests.Get(ctx, "acme", "blueprints", 8); !is(err, 404) {
		t.Errorf("unknown pull request: %v", err)
	}
}

func is(err error, status int) bool {
	got, _ := ghStatus(err)
	return got == status
}

func TestGitHubAuthAndRepo(t *testing.T) {
	dir, _ := bareRepo(t)
	gh := forgetest.NewGitHub(t, dir, "acme", "blueprints", "s3cret")
	gh.SetPullRequest(forgetest.PullRequest{Number: 1})
	ctx := context.Background()

	_, _, err := ghClient(t, gh, "wrong").PullRequests.Get(ctx, "acme", "blueprints", 1)
	if status, msg := ghStatus(err); status != 401 || msg != "Bad credentials" {
		t.Errorf("wrong token: got %d %q", status, msg)
	}
	if _, _, err := ghClient(t, gh, "s3cret").PullRequests.Get(ctx, "acme", "other", 1); !is(err, 404) {
		t.Errorf("wrong repository: %v", err)
	}
	req, _ := http.NewRequest(http.MethodGet, gh.URL+"/repos/acme/blueprints/pulls/1", nil)
	req.Header.Set("Authorization", "token s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("token scheme: got %d", resp.StatusCode)
	}
	if got := statuses(gh.Calls()); !cmp.Equal(got, []int{401, 404, 200}) {
		t.Errorf("recorded statuses %v", got)
	}
}

func annotations(n int) []*github.CheckRunAnnotation {
	var out []*github.CheckRunAnnotation
	for i := range n {
		out = append(out, &github.CheckRunAnnotation{Path: github.Ptr("Kptfile"), StartLine: github.Ptr(i + 1),
			EndLine: github.Ptr(i + 1), AnnotationLevel: github.Ptr("failure"), Message: github.Ptr("bad")})
	}
	return out
}

func TestGitHubCheckRuns(t *testing.T) {
	dir, commit := bareRepo(t)
	gh := forgetest.NewGitHub(t, dir, "acme", "blueprints", "s3cret")
	c := ghClient(t, gh, "s3cret")
	ctx := context.Background()

	run, resp, err := c.Checks.CreateCheckRun(ctx, "acme", "blueprints", github.CreateCheckRunOptions{
		Name: "pkgserver", HeadSHA: commit, Status: github.Ptr("in_progress"), ExternalID: github.Ptr("d1"),
		Output: &github.CheckRunOutput{Title: github.Ptr("Checking"), Summary: github.Ptr("..."), Annotations: annotations(50)},
	})
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("create: %v", err)
	}
	if run.GetStatus() != "in_progress" || run.Conclusion != nil || run.GetOutput().GetAnnotationsCount() != 50 {
		t.Errorf("created run %v", run)
	}
	run, _, err = c.Checks.UpdateCheckRun(ctx, "acme", "blueprints", run.GetID(), github.UpdateCheckRunOptions{
		Name: "pkgserver", Conclusion: github.Ptr("failure"),
		Output: &github.CheckRunOutput{Title: github.Ptr("Failed"), Summary: github.Ptr("2 findings"), Annotations: annotations(2)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if run.GetStatus() != "completed" || run.GetConclusion() != "failure" || run.GetOutput().GetAnnotationsCount() != 52 {
		t.Errorf("updated run %v", run)
	}
	runs := gh.CheckRuns()
	if len(runs) != 1 || len(runs[0].Annotations) != 52 || runs[0].Title != "Failed" || runs[0].ExternalID != "d1" {
		t.Errorf("recorded runs %+v", runs)
	}

	for name, opts := range map[string]github.CreateCheckRunOptions{
		"51 annotations": {Name: "x", HeadSHA: commit, Output: &github.CheckRunOutput{
			Title: github.Ptr("t"), Summary: github.Ptr("s"), Annotations: annotations(51)}},
		"unknown commit":       {Name: "x", HeadSHA: strings.Repeat("0", 40)},
		"no conclusion":        {Name: "x", HeadSHA: commit, Status: github.Ptr("completed")},
		"bad status":           {Name: "x", HeadSHA: commit, Status: github.Ptr("done")},
		"output without title": {Name: "x", HeadSHA: commit, Output: &github.CheckRunOutput{Summary: github.Ptr("s")}},
		"long summary": {Name: "x", HeadSHA: commit, Output: &github.CheckRunOutput{
			Title: github.Ptr("t"), Summary: github.Ptr(strings.Repeat("x", 65536))}},
	} {
		if _, _, err := c.Checks.CreateCheckRun(ctx, "acme", "blueprints", opts); !is(err, 422) {
			t.Errorf("%s: got %v, want 422", name, err)
		}
	}
	if _, _, err := c.Checks.UpdateCheckRun(ctx, "acme", "blueprints", 999, github.UpdateCheckRunOptions{Name: "x"}); !is(err, 404) {
		t.Errorf("unknown run: %v", err)
	}
	if n := len(gh.CheckRuns()); n != 1 {
		t.Errorf("rejected requests created runs: %d", n)
	}
}

func TestGitHubForbidChecks(t *testing.T) {
	dir, commit := bareRepo(t)
	gh := forgetest.NewGitHub(t, dir, "acme", "blueprints", "s3cret")
	gh.ForbidChecks()
	_, _, err := ghClient(t, gh, "s3cret").Checks.CreateCheckRun(context.Background(), "acme", "blueprints",
		github.CreateCheckRunOptions{Name: "x", HeadSHA: commit})
	if status, msg := ghStatus(err); status != 403 || msg != "You must authenticate via a GitHub App." {
		t.Errorf("got %d %q", status, msg)
	}
}

func TestGitHubStatusesAndFailNext(t *testing.T) {
	dir, commit := bareRepo(t)
	gh := forgetest.NewGitHub(t, dir, "acme", "blueprints", "s3cret")
	c := ghClient(t, gh, "s3cret")
	ctx := context.Background()
	status := &github.RepoStatus{State: github.Ptr("success"), Context: github.Ptr("pkgserver"),
		TargetURL: github.Ptr("https://pkg.example.com/r/1"), Description: github.Ptr("ok")}

	gh.FailNext(http.MethodPost, "/statuses/", 2, 500)
	for range 2 {
		if _, _, err := c.Repositories.CreateStatus(ctx, "acme", "blueprints", commit, status); !is(err, 500) {
			t.Errorf("injected failure: %v", err)
		}
	}
	got, _, err := c.Repositories.CreateStatus(ctx, "acme", "blueprints", commit, status)
	if err != nil {
		t.Fatal(err)
	}
	if got.GetState() != "success" || got.GetContext() != "pkgserver" || got.GetID() == 0 || got.CreatedAt == nil {
		t.Errorf("status %v", got)
	}
	want := []forgetest.Status{{SHA: commit, State: "success", TargetURL: "https://pkg.example.com/r/1",
		Description: "ok", Context: "pkgserver"}}
	if diff := cmp.Diff(gh.Statuses(), want); diff != "" {
		t.Errorf("statuses (-got +want):\n%s", diff)
	}
	if got := statuses(gh.CallsTo(http.MethodPost, "/statuses/"+commit)); !cmp.Equal(got, []int{500, 500, 201}) {
		t.Errorf("recorded statuses %v", got)
	}

	gh.FailNext("", "/statuses/", 1, 429)
	_, resp, err := c.Repositories.CreateStatus(ctx, "acme", "blueprints", commit, status)
	if !is(err, 429) || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("rate limit: %v", err)
	}
	if _, _, err := c.Repositories.CreateStatus(ctx, "acme", "blueprints", commit,
		&github.RepoStatus{State: github.Ptr("done")}); !is(err, 422) {
		t.Errorf("bad state: %v", err)
	}
	if _, _, err := c.Repositories.CreateStatus(ctx, "acme", "blueprints", strings.Repeat("1", 40), status); !is(err, 422) {
		t.Errorf("unknown commit: %v", err)
	}
}

func TestGitHubTagsAndRefs(t *testing.T) {
	dir, commit := bareRepo(t)
	gh := forgetest.NewGitHub(t, dir, "acme", "blueprints", "s3cret")
	c := ghClient(t, gh, "s3cret")
	ctx := context.Background()

	tag, resp, err := c.Git.CreateTag(ctx, "acme", "blueprints", github.CreateTag{
		Tag: "catalog/v1", Message: "release v1", Object: commit, Type: "commit"})
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("create tag: %v", err)
	}
	if typ := git(t, dir, "cat-file", "-t", tag.GetSHA()); typ != "tag" {
		t.Errorf("tag object type %q", typ)
	}
	if out := git(t, dir, "cat-file", "tag", tag.GetSHA()); !strings.Contains(out, "tag catalog/v1\ntagger pkgserver-standin") {
		t.Errorf("tag object:\n%s", out)
	}
	if tag.GetObject().GetSHA() != commit || tag.GetTagger().GetName() != "pkgserver-standin" {
		t.Errorf("tag %v", tag)
	}

	ref, resp, err := c.Git.CreateRef(ctx, "acme", "blueprints", github.CreateRef{Ref: "refs/tags/catalog/v1", SHA: tag.GetSHA()})
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("create ref: %v", err)
	}
	if ref.GetObject().GetType() != "tag" || ref.GetRef() != "refs/tags/catalog/v1" {
		t.Errorf("ref %v", ref)
	}
	if got := git(t, dir, "rev-parse", "refs/tags/catalog/v1"); got != tag.GetSHA() {
		t.Errorf("refs/tags/catalog/v1 = %s, want %s", got, tag.GetSHA())
	}
	_, _, err = c.Git.CreateRef(ctx, "acme", "blueprints", github.CreateRef{Ref: "refs/tags/catalog/v1", SHA: commit})
	if status, msg := ghStatus(err); status != 422 || msg != "Reference already exists" {
		t.Errorf("duplicate ref: %d %q", status, msg)
	}
	if got := git(t, dir, "rev-parse", "refs/tags/catalog/v1"); got != tag.GetSHA() {
		t.Errorf("duplicate moved the ref to %s", got)
	}
	for name, r := range map[string]github.CreateRef{
		"short ref":      {Ref: "refs/main", SHA: commit},
		"missing object": {Ref: "refs/heads/x", SHA: strings.Repeat("2", 40)},
		"bad name":       {Ref: "refs/heads/a..b", SHA: commit},
	} {
		if _, _, err := c.Git.CreateRef(ctx, "acme", "blueprints", r); !is(err, 422) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, _, err := c.Git.CreateTag(ctx, "acme", "blueprints", github.CreateTag{
		Tag: "v2", Message: "m", Object: strings.Repeat("3", 40), Type: "commit"}); !is(err, 422) {
		t.Errorf("tag of missing object: %v", err)
	}
}

func glClient(t *testing.T, gl *forgetest.GitLab, token string) *gitlab.Client {
	t.Helper()
	c, err := gitlab.NewClient(token, gitlab.WithBaseURL(gl.URL))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func glStatus(err error) (int, string) {
	var e *gitlab.ErrorResponse
	if errors.As(err, &e) {
		return e.Response.StatusCode, e.Message
	}
	return 0, ""
}

func TestGitLabMergeRequest(t *testing.T) {
	dir, commit := bareRepo(t)
	gl := forgetest.NewGitLab(t, dir, "acme/blueprints", 42, "s3cret")
	gl.SetMergeRequest(forgetest.MergeRequest{IID: 3, State: "merged", SourceBranch: "feature", TargetBranch: "main",
		SHA: commit, MergeCommitSHA: commit, BaseSHA: commit, Title: "Add"})
	c := glClient(t, gl, "s3cret")

	for _, pid := range []any{42, "acme/blueprints"} {
		mr, _, err := c.MergeRequests.GetMergeRequest(pid, 3, nil)
		if err != nil {
			t.Fatalf("%v: %v", pid, err)
		}
		if mr.State != "merged" || mr.MergeCommitSHA != commit || mr.SourceProjectID != 42 || mr.DiffRefs.HeadSha != commit || mr.IID != 3 {
			t.Errorf("%v: merge request %+v", pid, mr.BasicMergeRequest)
		}
	}
	if calls := gl.CallsTo(http.MethodGet, "/projects/acme%2Fblueprints/merge_requests/3"); len(calls) != 1 {
		t.Errorf("calls by path: %d", len(calls))
	}
	if _, _, err := c.MergeRequests.GetMergeRequest(42, 4, nil); !glIs(err, 404) {
		t.Errorf("unknown merge request: %v", err)
	}
	if _, _, err := c.MergeRequests.GetMergeRequest("acme/other", 3, nil); !glIs(err, 404) {
		t.Errorf("unknown project: %v", err)
	}
	_, _, err := glClient(t, gl, "wrong").MergeRequests.GetMergeRequest(42, 3, nil)
	if status, msg := glStatus(err); status != 401 || !strings.Contains(msg, "401 Unauthorized") {
		t.Errorf("wrong token: %d %q", status, msg)
	}
}

func glIs(err error, status int) bool {
	if status == http.StatusNotFound {
		// client-go drops the body of a 404.
		return errors.Is(err, gitlab.ErrNotFound)
	}
	got, _ := glStatus(err)
	return got == status
}

func TestGitLabStatuses(t *testing.T) {
	dir, commit := bareRepo(t)
	gl := forgetest.NewGitLab(t, dir, "acme/blueprints", 42, "s3cret")
	c := glClient(t, gl, "s3cret")

	gl.FailNext(http.MethodPost, "/statuses/", 2, 429)
	st, _, err := c.Commits.SetCommitStatus(42, commit, &gitlab.SetCommitStatusOptions{
		State: gitlab.Pending, TargetURL: gitlab.Ptr("https://pkg.example.com/r/1")})
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != "pending" || st.Name != "default" || st.Ref != "main" || st.SHA != commit {
		t.Errorf("status %+v", st)
	}
	if got := statuses(gl.CallsTo(http.MethodPost, "/statuses/"+commit)); !cmp.Equal(got, []int{429, 429, 201}) {
		t.Errorf("recorded statuses %v", got)
	}
	_, _, err = c.Commits.SetCommitStatus("acme/blueprints", commit, &gitlab.SetCommitStatusOptions{State: gitlab.Pending})
	if status, msg := glStatus(err); status != 400 || !strings.Contains(msg, "Cannot transition status via :enqueue from :pending") {
		t.Errorf("pending twice: %d %q", status, msg)
	}
	if _, _, err := c.Commits.SetCommitStatus(42, commit, &gitlab.SetCommitStatusOptions{
		State: gitlab.Success, Name: gitlab.Ptr("pkgserver"), Ref: gitlab.Ptr("main"), Description: gitlab.Ptr("ok")}); err != nil {
		t.Fatal(err)
	}
	want := []forgetest.GitLabStatus{
		{SHA: commit, State: "pending", Name: "default", TargetURL: "https://pkg.example.com/r/1", Ref: "main"},
		{SHA: commit, State: "success", Name: "pkgserver", Description: "ok", Ref: "main"},
	}
	if diff := cmp.Diff(gl.Statuses(), want); diff != "" {
		t.Errorf("statuses (-got +want):\n%s", diff)
	}
	if _, _, err := c.Commits.SetCommitStatus(42, commit, &gitlab.SetCommitStatusOptions{State: "done"}); !glIs(err, 400) {
		t.Errorf("bad state: %v", err)
	}
	if _, _, err := c.Commits.SetCommitStatus(42, strings.Repeat("4", 40), &gitlab.SetCommitStatusOptions{State: gitlab.Failed}); !glIs(err, 404) {
		t.Errorf("unknown commit: %v", err)
	}

	// Form parameters are accepted as well as JSON.
	req, _ := http.NewRequest(http.MethodPost, gl.URL+"/api/v4/projects/42/statuses/"+commit,
		strings.NewReader(url.Values{"state": {"running"}, "name": {"form"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 || gl.Statuses()[2].Name != "form" {
		t.Errorf("form request: %d %+v", resp.StatusCode, gl.Statuses())
	}
}

func TestGitLabTags(t *testing.T) {
	dir, commit := bareRepo(t)
	gl := forgetest.NewGitLab(t, dir, "acme/blueprints", 42, "s3cret")
	c := glClient(t, gl, "s3cret")

	tag, _, err := c.Tags.CreateTag(42, &gitlab.CreateTagOptions{
		TagName: gitlab.Ptr("catalog/v1"), Ref: gitlab.Ptr("main"), Message: gitlab.Ptr("release v1")})
	if err != nil {
		t.Fatal(err)
	}
	if tag.Name != "catalog/v1" || tag.Commit.ID != commit || tag.Commit.Title != "initial commit" || tag.Message != "release v1" {
		t.Errorf("tag %+v commit %+v", tag, tag.Commit)
	}
	if got := git(t, dir, "cat-file", "-t", "refs/tags/catalog/v1"); got != "tag" || tag.Target != git(t, dir, "rev-parse", "refs/tags/catalog/v1") {
		t.Errorf("annotated tag: type %s target %s", got, tag.Target)
	}
	light, _, err := c.Tags.CreateTag("acme/blueprints", &gitlab.CreateTagOptions{TagName: gitlab.Ptr("light"), Ref: gitlab.Ptr(commit)})
	if err != nil {
		t.Fatal(err)
	}
	if got := git(t, dir, "cat-file", "-t", "refs/tags/light"); got != "commit" || light.Target != commit {
		t.Errorf("lightweight tag: type %s target %s", got, light.Target)
	}
	_, _, err = c.Tags.CreateTag(42, &gitlab.CreateTagOptions{TagName: gitlab.Ptr("light"), Ref: gitlab.Ptr("main")})
	if status, msg := glStatus(err); status != 400 || !strings.Contains(msg, "Tag light already exists") {
		t.Errorf("duplicate tag: %d %q", status, msg)
	}
	_, _, err = c.Tags.CreateTag(42, &gitlab.CreateTagOptions{TagName: gitlab.Ptr("v9"), Ref: gitlab.Ptr("nope")})
	if status, msg := glStatus(err); status != 400 || !strings.Contains(msg, "Target nope is invalid") {
		t.Errorf("bad ref: %d %q", status, msg)
	}
	want := []forgetest.GitLabTag{{Name: "catalog/v1", Ref: "main", Message: "release v1"}, {Name: "light", Ref: commit}}
	if diff := cmp.Diff(gl.Tags(), want); diff != "" {
		t.Errorf("tags (-got +want):\n%s", diff)
	}
}
