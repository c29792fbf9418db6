package webhooks_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/webhooks"
	"github.com/pkgserver/pkgserver/webhooks/forgetest"
)

// waitFor polls a condition for up to 15 s.
func (f *forge) waitFor(what string, cond func() bool) {
	f.t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	f.t.Fatalf("timed out waiting for %s", what)
}

// revision reads a package revision through the API, nil if there is none.
func (f *forge) revision(name string) *pkgv1alpha1.PackageRevision {
	f.t.Helper()
	code, body := f.api(http.MethodGet, "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions/"+name, nil)
	if code == http.StatusNotFound {
		return nil
	}
	if code != http.StatusOK {
		f.t.Fatalf("get %s: %d %s", name, code, body)
	}
	var pr pkgv1alpha1.PackageRevision
	if err := json.Unmarshal(body, &pr); err != nil {
		f.t.Fatal(err)
	}
	return &pr
}

// waitLifecycle waits until a revision has a lifecycle and returns it.
func (f *forge) waitLifecycle(name, lifecycle string) *pkgv1alpha1.PackageRevision {
	f.t.Helper()
	var pr *pkgv1alpha1.PackageRevision
	f.waitFor(name+" "+lifecycle, func() bool {
		pr = f.revision(name)
		return pr != nil && pr.Spec.Lifecycle == lifecycle
	})
	return pr
}

func (f *forge) githubPush(id, ref, before, after string) {
	f.t.Helper()
	body := bytes.Replace(payload(f.t, "github-push.json", ref, after), []byte(`"before": "0000000000000000000000000000000000000000"`),
		[]byte(`"before": "`+before+`"`), 1)
	if code := f.deliver("/webhooks/github/default/gh", body, githubHeaders("push", id, body, secret)); code != http.StatusAccepted {
		f.t.Fatalf("push delivery %s: %d", id, code)
	}
}

// githubPullRequest delivers a pull_request event shaped as GitHub sends it.
func (f *forge) githubPullRequest(id, action string, pr forgetest.PullRequest) {
	f.t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "github-pull-request.json"))
	if err != nil {
		f.t.Fatal(err)
	}
	merge := pr.MergeCommitSHA
	body := []byte(strings.NewReplacer("ACTION", action, "NUMBER", fmt.Sprint(pr.Number), "STATE", pr.State, "HEADREF", pr.HeadRef,
		"HEADSHA", pr.HeadSHA, "BASESHA", pr.BaseSHA, "MERGED", fmt.Sprint(pr.Merged), "MERGESHA", merge).Replace(string(b)))
	if code := f.deliver("/webhooks/github/default/gh", body, githubHeaders("pull_request", id, body, secret)); code != http.StatusAccepted {
		f.t.Fatalf("pull_request delivery %s: %d", id, code)
	}
}

func (f *forge) checkRun(sha string) *forgetest.CheckRun {
	for _, r := range f.github.CheckRuns() {
		if r.HeadSHA == sha {
			return &r
		}
	}
	return nil
}

const brokenDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx
spec:
  replicas: three
  selector:
    matchLabels: {app: nginx}
  template:
    metadata:
      labels: {app: nginx}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
`

// TestGitHubChecks: a push that changes a package gets a check run on its
// head commit — success for a valid package, failure with an annotation at
// the finding's file and line for an invalid one — and its details URL
// answers the full report. Annotations beyond 50 are added by updates.
func TestGitHubChecks(t *testing.T) {
	f := setup(t)
	f.remote.Checkout("-q", "-b", "drafts/nginx/first")
	f.remote.Write(gittest.Package("nginx", "2"))
	good := f.remote.Commit("nginx 2")
	f.githubPush("p-1", "refs/heads/drafts/nginx/first", "0000000000000000000000000000000000000000", good)
	f.waitLifecycle("gh.nginx.first", "Draft")
	var run *forgetest.CheckRun
	f.waitFor("check run of the valid commit", func() bool { run = f.checkRun(good); return run != nil })
	if run.Name != "pkgserver" || run.Conclusion != "success" || run.Status != "completed" || !strings.Contains(run.Summary, "| `nginx` | valid | 0 | 0 |") {
		t.Errorf("check run of a valid package: %+v", run)
	}
	if want := "/namespaces/default/repositories/gh/checks/" + good; !strings.HasSuffix(run.DetailsURL, want) {
		t.Errorf("details URL %q, want …%s", run.DetailsURL, want)
	}
	var body []byte
	f.waitFor("the report, posted", func() bool {
		var code int
		code, body = f.api(http.MethodGet, strings.TrimPrefix(run.DetailsURL, f.url), nil)
		return code == http.StatusOK && strings.Contains(string(body), `"posted":true`)
	})
	if !strings.Contains(string(body), `"conclusion":"success"`) {
		t.Errorf("report: %s", body)
	}
	validated := func(pr *pkgv1alpha1.PackageRevision) string {
		if pr == nil {
			return ""
		}
		for _, c := range pr.Status.Conditions {
			if c.Type == pkgv1alpha1.ValidatedCondition {
				return c.Status + " " + c.Reason
			}
		}
		return ""
	}
	f.waitFor("the draft's validated condition True", func() bool { return validated(f.revision("gh.nginx.first")) == "True Valid" })

	f.remote.Write(map[string]string{"nginx/deploy.yaml": brokenDeployment})
	bad := f.remote.Commit("nginx: three replicas")
	f.githubPush("p-2", "refs/heads/drafts/nginx/first", good, bad)
	f.waitFor("check run of the invalid commit", func() bool { run = f.checkRun(bad); return run != nil })
	if run.Conclusion != "failure" {
		t.Errorf("conclusion %q, want failure", run.Conclusion)
	}
	found := false
	for _, a := range run.Annotations {
		if a.Path == "nginx/deploy.yaml" && a.StartLine == 6 && a.AnnotationLevel == "failure" {
			found = true
		}
	}
	if !found {
		t.Errorf("no failure annotation at nginx/deploy.yaml:6: %+v", run.Annotations)
	}
	// The draft, in git whatever the check says, shows it failed.
	f.waitFor("the draft's validated condition False", func() bool { return validated(f.revision("gh.nginx.first")) == "False Invalid" })

	// 60 findings: a check run with 50 annotations, then an update with 10.
	var many strings.Builder
	for i := range 60 {
		fmt.Fprintf(&many, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d\nunknownField: %d\n", i, i)
	}
	f.remote.Remove("nginx/deploy.yaml")
	f.remote.Write(map[string]string{"nginx/many.yaml": many.String()})
	lots := f.remote.Commit("nginx: many config maps")
	f.githubPush("p-3", "refs/heads/drafts/nginx/first", bad, lots)
	f.waitFor("check run with 60 annotations", func() bool { run = f.checkRun(lots); return run != nil && len(run.Annotations) == 60 })
	posts, patches := f.github.CallsTo(http.MethodPost, "/check-runs"), f.github.CallsTo(http.MethodPatch, fmt.Sprintf("/check-runs/%d", run.ID))
	if len(posts) != 3 || len(patches) != 1 {
		t.Errorf("%d check runs created, %d updated; want 3 and 1", len(posts), len(patches))
	}
}

// TestGitHubPullRequest: a pull request from a draft branch makes the draft
// Proposed; closing it without merge makes it a Draft again; merging
// another publishes it — pkgserver creates the tag through the API on the
// merge commit, with the pull request's number in the revision's status —
// exactly once, however often the delivery comes.
func TestGitHubPullRequest(t *testing.T) {
	f := setup(t)
	main := f.remote.Rev("main")
	f.remote.Checkout("-q", "-b", "drafts/nginx/first")
	f.remote.Write(gittest.Package("nginx", "2"))
	head := f.remote.Commit("nginx 2")
	f.remote.Checkout("-q", "main")
	f.githubPush("p-1", "refs/heads/drafts/nginx/first", "0000000000000000000000000000000000000000", head)
	f.waitLifecycle("gh.nginx.first", "Draft")

	pr := forgetest.PullRequest{Number: 7, State: "open", HeadRef: "drafts/nginx/first", HeadSHA: head, BaseRef: "main", BaseSHA: main}
	f.github.SetPullRequest(pr)
	f.githubPullRequest("pr-1", "opened", pr)
	if got := f.waitLifecycle("gh.nginx.first", "Proposed"); got.Status.PullRequest != 7 {
		t.Errorf("proposed revision's pull request: %d, want 7", got.Status.PullRequest)
	}

	// Closed without merge: a draft again.
	pr.State = "closed"
	f.github.SetPullRequest(pr)
	f.githubPullRequest("pr-2", "closed", pr)
	if got := f.waitLifecycle("gh.nginx.first", "Draft"); got.Status.PullRequest != 0 {
		t.Errorf("draft's pull request: %d, want none", got.Status.PullRequest)
	}

	// Reopened and merged: published as nginx/v2 on the merge commit.
	pr.State = "open"
	f.github.SetPullRequest(pr)
	f.githubPullRequest("pr-3", "reopened", pr)
	f.waitLifecycle("gh.nginx.first", "Proposed")
	merge := f.remote.MergeCommit("main", head, "Merge pull request #7 from acme/drafts/nginx/first", main, head)
	f.remote.Git("branch", "-D", "drafts/nginx/first") // deleted on merge, as GitHub offers
	pr.State, pr.Merged, pr.MergeCommitSHA = "closed", true, merge
	f.github.SetPullRequest(pr)
	f.githubPush("p-2", "refs/heads/main", main, merge)
	f.githubPullRequest("pr-4", "closed", pr)
	got := f.waitLifecycle("gh.nginx.first", "Published")
	if got.Spec.Revision != "v2" || got.Status.PullRequest != 7 || got.Status.Commit != merge {
		t.Errorf("published revision: %+v", got)
	}
	if tagged := f.remote.Rev("nginx/v2^{commit}"); tagged != merge {
		t.Errorf("nginx/v2 is on %s, want the merge commit %s", tagged, merge)
	}
	refs := f.github.CallsTo(http.MethodPost, "/git/refs")
	if len(refs) != 1 || !strings.Contains(string(refs[0].Body), `"ref":"refs/tags/nginx/v2"`) {
		t.Errorf("tag refs created: %+v", refs)
	}
	f.waitDone(webhooks.GitHub, "pr-4")
	// The same event again, under another delivery id: nothing is tagged.
	f.githubPullRequest("pr-5", "closed", pr)
	f.waitDone(webhooks.GitHub, "pr-5")
	if refs := f.github.CallsTo(http.MethodPost, "/git/refs"); len(refs) != 1 {
		t.Errorf("tags created after the repeated event: %d, want 1", len(refs))
	}
	var publish *forgetest.CheckRun
	for _, r := range f.github.CheckRuns() {
		if r.HeadSHA == merge && r.Name == webhooks.PublishName {
			publish = &r
		}
	}
	if publish == nil || publish.Conclusion != "success" || !strings.Contains(publish.Title, "nginx/v2") {
		t.Errorf("publish check run: %+v", publish)
	}
}

// TestMergeFailingValidation: a merged pull request whose package is
// invalid is not published, and the failure is reported on the merge
// commit.
func TestMergeFailingValidation(t *testing.T) {
	f := setup(t)
	main := f.remote.Rev("main")
	f.remote.Checkout("-q", "-b", "drafts/nginx/broken")
	f.remote.Write(map[string]string{"nginx/deploy.yaml": brokenDeployment})
	head := f.remote.Commit("nginx: three replicas")
	f.remote.Checkout("-q", "main")
	merge := f.remote.MergeCommit("main", head, "Merge pull request #9", main, head)
	pr := forgetest.PullRequest{Number: 9, State: "closed", Merged: true, MergeCommitSHA: merge, HeadRef: "drafts/nginx/broken",
		HeadSHA: head, BaseRef: "main", BaseSHA: main}
	f.github.SetPullRequest(pr)
	f.githubPush("p-1", "refs/heads/main", main, merge)
	f.githubPullRequest("pr-1", "closed", pr)
	f.waitDone(webhooks.GitHub, "pr-1")
	var publish *forgetest.CheckRun
	f.waitFor("publish check run", func() bool {
		for _, r := range f.github.CheckRuns() {
			if r.HeadSHA == merge && r.Name == webhooks.PublishName {
				publish = &r
				return true
			}
		}
		return false
	})
	if publish.Conclusion != "failure" || !strings.HasPrefix(publish.Title, "not published") {
		t.Errorf("publish check run: %+v", publish)
	}
	if refs := f.github.CallsTo(http.MethodPost, "/git/refs"); len(refs) != 0 {
		t.Errorf("a tag was created: %+v", refs)
	}
	if pr := f.revision("gh.nginx.v2"); pr != nil {
		t.Errorf("published: %+v", pr)
	}
}

// TestChecksNotAllowed: a token that may not create check runs (GitHub
// grants that to GitHub Apps only) gets a commit status instead.
func TestChecksNotAllowed(t *testing.T) {
	f := setup(t)
	f.github.ForbidChecks()
	f.remote.Checkout("-q", "-b", "drafts/nginx/first")
	f.remote.Write(gittest.Package("nginx", "2"))
	c := f.remote.Commit("nginx 2")
	f.githubPush("p-1", "refs/heads/drafts/nginx/first", "0000000000000000000000000000000000000000", c)
	f.waitFor("commit status", func() bool { return len(f.github.Statuses()) == 1 })
	s := f.github.Statuses()[0]
	if s.SHA != c || s.State != "success" || s.Context != "pkgserver" || !strings.HasSuffix(s.TargetURL, "/checks/"+c) {
		t.Errorf("status: %+v", s)
	}
}

func (f *forge) gitlabDeliver(event, id string, body []byte) {
	f.t.Helper()
	code := f.deliver("/webhooks/gitlab/default/gl", body, map[string]string{"Content-Type": "application/json",
		"X-Gitlab-Token": secret, "X-Gitlab-Event": event, "X-Gitlab-Event-UUID": id, "User-Agent": "GitLab/17.5.0"})
	if code != http.StatusAccepted {
		f.t.Fatalf("%s delivery %s: %d", event, id, code)
	}
}

func (f *forge) gitlabMergeRequest(id, action string, mr forgetest.MergeRequest) {
	f.t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "gitlab-merge-request.json"))
	if err != nil {
		f.t.Fatal(err)
	}
	merge := "null"
	if mr.MergeCommitSHA != "" {
		merge = `"` + mr.MergeCommitSHA + `"`
	}
	body := []byte(strings.NewReplacer("ACTION", action, "IID", fmt.Sprint(mr.IID), "STATE", mr.State, "SOURCE", mr.SourceBranch,
		"LASTCOMMIT", mr.SHA, "MERGESHA", merge).Replace(string(b)))
	f.gitlabDeliver("Merge Request Hook", id, body)
}

// TestGitLab: a push gets a commit status with a link to the report, once
// even though the API failed twice before; a merge request makes the draft
// Proposed, and merging it creates the tag through the API.
func TestGitLab(t *testing.T) {
	f := setup(t)
	f.gitlab.FailNext(http.MethodPost, "/statuses/", 2, http.StatusInternalServerError)
	main := f.remote.Rev("main")
	f.remote.Checkout("-q", "-b", "drafts/nginx/first")
	f.remote.Write(gittest.Package("nginx", "2"))
	head := f.remote.Commit("nginx 2")
	f.remote.Checkout("-q", "main")
	f.gitlabDeliver("Push Hook", "g-1", payload(t, "gitlab-push.json", "refs/heads/drafts/nginx/first", head))
	f.waitLifecycle("gl.nginx.first", "Draft")
	f.waitFor("commit status", func() bool { return len(f.gitlab.Statuses()) == 1 })
	s := f.gitlab.Statuses()[0]
	if s.SHA != head || s.State != "success" || s.Name != "pkgserver" || s.Ref != "drafts/nginx/first" || !strings.HasSuffix(s.TargetURL, "/repositories/gl/checks/"+head) {
		t.Errorf("status: %+v", s)
	}
	time.Sleep(300 * time.Millisecond)
	calls := f.gitlab.CallsTo(http.MethodPost, "/statuses/"+head)
	if len(calls) != 3 || calls[0].Status != 500 || calls[1].Status != 500 || calls[2].Status != 201 || len(f.gitlab.Statuses()) != 1 {
		t.Errorf("status calls: %d (want 500, 500, 201), statuses %d", len(calls), len(f.gitlab.Statuses()))
	}

	mr := forgetest.MergeRequest{IID: 3, State: "opened", SourceBranch: "drafts/nginx/first", TargetBranch: "main", SHA: head, BaseSHA: main}
	f.gitlab.SetMergeRequest(mr)
	f.gitlabMergeRequest("g-2", "open", mr)
	if got := f.waitLifecycle("gl.nginx.first", "Proposed"); got.Status.PullRequest != 3 {
		t.Errorf("pull request %d, want 3", got.Status.PullRequest)
	}
	merge := f.remote.MergeCommit("main", head, "Merge branch 'drafts/nginx/first' into 'main'", main, head)
	mr.State, mr.MergeCommitSHA = "merged", merge
	f.gitlab.SetMergeRequest(mr)
	f.gitlabMergeRequest("g-3", "merge", mr)
	got := f.waitLifecycle("gl.nginx.first", "Published")
	if got.Spec.Revision != "v2" || got.Status.PullRequest != 3 {
		t.Errorf("published: %+v", got)
	}
	if tags := f.gitlab.Tags(); len(tags) != 1 || tags[0].Name != "nginx/v2" || tags[0].Ref != merge || !strings.Contains(tags[0].Message, "Pull-Request: 3") {
		t.Errorf("tags created: %+v", tags)
	}
}

// TestReportAfterRestart: a check stored but not posted when the server
// stopped is posted when it starts again.
func TestReportAfterRestart(t *testing.T) {
	f := setup(t)
	f.gitlab.FailNext(http.MethodPost, "/statuses/", 1000, http.StatusServiceUnavailable)
	f.remote.Checkout("-q", "-b", "drafts/nginx/first")
	f.remote.Write(gittest.Package("nginx", "2"))
	head := f.remote.Commit("nginx 2")
	f.gitlabDeliver("Push Hook", "g-1", payload(t, "gitlab-push.json", "refs/heads/drafts/nginx/first", head))
	f.waitFor("a failed attempt", func() bool { return len(f.gitlab.CallsTo(http.MethodPost, "/statuses/"+head)) > 0 })
	f.stop()
	f.gitlab.ClearFailures()
	f.store, f.url, f.stop = startServer(t, f.dir)
	f.waitFor("status after restart", func() bool { return len(f.gitlab.Statuses()) == 1 })
}

// TestPullRequestFromAnyBranch: a pull request from a branch outside the
// git contract proposes each package it changes, under the branch's name;
// closing it withdraws the proposals; merging it publishes them.
func TestPullRequestFromAnyBranch(t *testing.T) {
	f := setup(t)
	main := f.remote.Rev("main")
	f.remote.Checkout("-q", "-b", "feature/X")
	f.remote.Write(gittest.Package("nginx", "2"))
	f.remote.Write(gittest.Package("redis", "1"))
	head := f.remote.Commit("nginx 2, redis 1")
	f.remote.Checkout("-q", "main")
	f.githubPush("p-1", "refs/heads/feature/X", "0000000000000000000000000000000000000000", head)
	f.waitDone(webhooks.GitHub, "p-1")
	if pr := f.revision("gh.nginx.feature-x"); pr != nil {
		t.Fatalf("a branch without a pull request is a revision: %+v", pr)
	}

	pr := forgetest.PullRequest{Number: 11, State: "open", HeadRef: "feature/X", HeadSHA: head, BaseRef: "main", BaseSHA: main}
	f.github.SetPullRequest(pr)
	f.githubPullRequest("pr-1", "opened", pr)
	for _, name := range []string{"gh.nginx.feature-x", "gh.redis.feature-x"} {
		if got := f.waitLifecycle(name, "Proposed"); got.Status.PullRequest != 11 || got.Status.Commit != head {
			t.Errorf("%s: %+v", name, got)
		}
	}
	code, body := f.api(http.MethodGet, "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisionresources/gh.redis.feature-x", nil)
	if code != http.StatusOK || !strings.Contains(string(body), `"config.yaml":"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: redis`) {
		t.Errorf("resources of the proposal: %d %s", code, body)
	}

	pr.State = "closed"
	f.github.SetPullRequest(pr)
	f.githubPullRequest("pr-2", "closed", pr)
	f.waitFor("proposals withdrawn", func() bool { return f.revision("gh.nginx.feature-x") == nil && f.revision("gh.redis.feature-x") == nil })

	pr.State = "open"
	f.github.SetPullRequest(pr)
	f.githubPullRequest("pr-3", "reopened", pr)
	f.waitLifecycle("gh.nginx.feature-x", "Proposed")
	merge := f.remote.MergeCommit("main", head, "Merge pull request #11 from acme/feature/X", main, head)
	pr.State, pr.Merged, pr.MergeCommitSHA = "closed", true, merge
	f.github.SetPullRequest(pr)
	f.githubPush("p-2", "refs/heads/main", main, merge)
	f.githubPullRequest("pr-4", "closed", pr)
	nginx := f.waitLifecycle("gh.nginx.feature-x", "Published")
	redis := f.waitLifecycle("gh.redis.feature-x", "Published")
	if nginx.Spec.Revision != "v2" || redis.Spec.Revision != "v1" || nginx.Status.PullRequest != 11 || redis.Status.PullRequest != 11 {
		t.Errorf("published: nginx %+v, redis %+v", nginx.Spec, redis.Spec)
	}
}

// TestFailingForgeBlocksNoOther: while one repository's forge keeps failing,
// another's checks are posted; a rate limit's Retry-After is respected.
func TestFailingForgeBlocksNoOther(t *testing.T) {
	f := setup(t)
	f.gitlab.FailNext(http.MethodPost, "/statuses/", 1000, http.StatusServiceUnavailable)
	f.github.FailNext(http.MethodPost, "/check-runs", 1, http.StatusTooManyRequests)
	f.remote.Checkout("-q", "-b", "drafts/nginx/first")
	f.remote.Write(gittest.Package("nginx", "2"))
	head := f.remote.Commit("nginx 2")
	f.gitlabDeliver("Push Hook", "g-1", payload(t, "gitlab-push.json", "refs/heads/drafts/nginx/first", head))
	f.waitFor("failing GitLab attempts", func() bool { return len(f.gitlab.CallsTo(http.MethodPost, "/statuses/"+head)) >= 2 })
	f.githubPush("p-1", "refs/heads/drafts/nginx/first", "0000000000000000000000000000000000000000", head)
	f.waitFor("GitHub check run", func() bool { return f.checkRun(head) != nil })
	calls := f.github.CallsTo(http.MethodPost, "/check-runs")
	if len(calls) != 2 || calls[0].Status != http.StatusTooManyRequests || calls[1].Status != http.StatusCreated {
		t.Fatalf("check run calls: %+v", calls)
	}
	if gap := calls[1].Time.Sub(calls[0].Time); gap < 900*time.Millisecond {
		t.Errorf("retried %v after a 429 with Retry-After: 1", gap)
	}
	if n := len(f.gitlab.Statuses()); n != 0 {
		t.Errorf("GitLab statuses posted: %d", n)
	}
}

// TestPullRequestRefresh: a request closed while its event was lost is
// read again from the forge, and its draft is a Draft again.
func TestPullRequestRefresh(t *testing.T) {
	f := setup(t)
	main := f.remote.Rev("main")
	f.remote.Checkout("-q", "-b", "drafts/nginx/first")
	f.remote.Write(gittest.Package("nginx", "2"))
	head := f.remote.Commit("nginx 2")
	f.remote.Checkout("-q", "main")
	pr := forgetest.PullRequest{Number: 4, State: "open", HeadRef: "drafts/nginx/first", HeadSHA: head, BaseRef: "main", BaseSHA: main}
	f.github.SetPullRequest(pr)
	f.githubPush("p-1", "refs/heads/drafts/nginx/first", "0000000000000000000000000000000000000000", head)
	f.githubPullRequest("pr-1", "opened", pr)
	f.waitLifecycle("gh.nginx.first", "Proposed")
	pr.State = "closed"
	f.github.SetPullRequest(pr) // and no delivery
	f.waitLifecycle("gh.nginx.first", "Draft")
}

// TestPublishedOnce: after a merged request was published, a later event
// about it (an edit) publishes nothing — not even a revision deleted since.
func TestPublishedOnce(t *testing.T) {
	f := setup(t)
	main := f.remote.Rev("main")
	f.remote.Checkout("-q", "-b", "drafts/nginx/first")
	f.remote.Write(gittest.Package("nginx", "2"))
	head := f.remote.Commit("nginx 2")
	f.remote.Checkout("-q", "main")
	merge := f.remote.MergeCommit("main", head, "Merge pull request #7", main, head)
	pr := forgetest.PullRequest{Number: 7, State: "closed", Merged: true, MergeCommitSHA: merge, HeadRef: "drafts/nginx/first",
		HeadSHA: head, BaseRef: "main", BaseSHA: main}
	f.github.SetPullRequest(pr)
	f.githubPullRequest("pr-1", "closed", pr)
	f.waitLifecycle("gh.nginx.first", "Published")
	f.remote.Git("tag", "-d", "nginx/v2") // its deletion approved since
	f.githubPush("p-del", "refs/tags/nginx/v2", merge, "0000000000000000000000000000000000000000")
	f.waitDone(webhooks.GitHub, "p-del")
	f.githubPullRequest("pr-2", "edited", pr)
	f.waitDone(webhooks.GitHub, "pr-2")
	if refs := f.github.CallsTo(http.MethodPost, "/git/refs"); len(refs) != 1 {
		t.Errorf("tags created: %d, want 1", len(refs))
	}
}

// TestReusedBranchName: a second request from the branch name of one
// already published publishes under the request's number, so both
// revisions are listed.
func TestReusedBranchName(t *testing.T) {
	f := setup(t)
	for i, n := range []int{21, 22} {
		main := f.remote.Rev("main")
		f.remote.Git("checkout", "-q", "-B", "update-nginx", "main")
		f.remote.Write(gittest.Package("nginx", fmt.Sprint(i+2)))
		head := f.remote.Commit("nginx update")
		f.remote.Checkout("-q", "main")
		merge := f.remote.MergeCommit("main", head, fmt.Sprintf("Merge pull request #%d", n), main, head)
		f.remote.Git("reset", "-q", "--hard", "main")
		pr := forgetest.PullRequest{Number: n, State: "closed", Merged: true, MergeCommitSHA: merge, HeadRef: "update-nginx",
			HeadSHA: head, BaseRef: "main", BaseSHA: main}
		f.github.SetPullRequest(pr)
		f.githubPullRequest(fmt.Sprintf("pr-%d", n), "closed", pr)
		f.waitDone(webhooks.GitHub, fmt.Sprintf("pr-%d", n))
	}
	if got := f.waitLifecycle("gh.nginx.update-nginx", "Published"); got.Spec.Revision != "v2" {
		t.Errorf("first: %+v", got.Spec)
	}
	if got := f.waitLifecycle("gh.nginx.update-nginx-pr22", "Published"); got.Spec.Revision != "v3" || got.Labels[pkgv1alpha1.LatestRevisionLabel] != "true" {
		t.Errorf("second: %+v %v", got.Spec, got.Labels)
	}
}

// TestForkPullRequest: a request whose head is a fork (deleted since: the
// API shows no head repository) changes no lifecycle, even if a branch of
// the repository has its name.
func TestForkPullRequest(t *testing.T) {
	f := setup(t)
	main := f.remote.Rev("main")
	f.remote.Checkout("-q", "-b", "drafts/nginx/first")
	f.remote.Write(gittest.Package("nginx", "2"))
	head := f.remote.Commit("nginx 2")
	f.remote.Checkout("-q", "main")
	f.githubPush("p-1", "refs/heads/drafts/nginx/first", "0000000000000000000000000000000000000000", head)
	f.waitLifecycle("gh.nginx.first", "Draft")
	pr := forgetest.PullRequest{Number: 5, State: "open", HeadRef: "drafts/nginx/first", HeadSHA: head, BaseRef: "main", BaseSHA: main, HeadRepo: "-"}
	f.github.SetPullRequest(pr)
	f.githubPullRequest("pr-1", "opened", pr)
	f.waitDone(webhooks.GitHub, "pr-1")
	if got := f.revision("gh.nginx.first"); got.Spec.Lifecycle != "Draft" {
		t.Errorf("lifecycle %s, want Draft", got.Spec.Lifecycle)
	}
}

// TestTagPushCheck: a pushed annotated package tag gets a check on the
// commit it tags, validating the package there.
func TestTagPushCheck(t *testing.T) {
	f := setup(t)
	f.remote.Write(gittest.Package("nginx", "2"))
	c := f.remote.Commit("nginx 2")
	f.remote.Tag("nginx/v2", c, "nginx v2")
	tagObj := f.remote.Rev("refs/tags/nginx/v2")
	f.githubPush("p-1", "refs/tags/nginx/v2", "0000000000000000000000000000000000000000", tagObj)
	var run *forgetest.CheckRun
	f.waitFor("check run on the tagged commit", func() bool { run = f.checkRun(c); return run != nil })
	if run.Conclusion != "success" {
		t.Errorf("check run of a valid tag: %+v", run)
	}
}

// TestAPIWritesOnGitHub: the lifecycle through the API works on a GitHub
// repository as on any other: the draft, the proposal and the publication
// land in its git (the stand-in's remote).
func TestAPIWritesOnGitHub(t *testing.T) {
	f := setup(t)
	const revs = "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions"
	body := map[string]any{"apiVersion": "pkg.pkgserver.dev/v1alpha1", "kind": "PackageRevision",
		"spec": map[string]any{"repository": "gh", "packageName": "redis", "workspaceName": "first", "lifecycle": "Draft",
			"tasks": []any{map[string]any{"type": "init", "init": map[string]any{"description": "a cache"}}}}}
	code, out := f.api(http.MethodPost, revs, body)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, out)
	}
	var pr pkgv1alpha1.PackageRevision
	if err := json.Unmarshal(out, &pr); err != nil {
		t.Fatal(err)
	}
	pr.Spec.Lifecycle = "Proposed"
	if code, out = f.api(http.MethodPut, revs+"/"+pr.Name, pr); code != http.StatusOK {
		t.Fatalf("propose: %d %s", code, out)
	}
	_ = json.Unmarshal(out, &pr)
	pr.Spec.Lifecycle = "Published"
	if code, out = f.api(http.MethodPut, revs+"/"+pr.Name+"/approval", pr); code != http.StatusOK {
		t.Fatalf("approve: %d %s", code, out)
	}
	if tagged, main := f.remote.Rev("redis/v1"), f.remote.Rev("main"); tagged != main {
		t.Errorf("redis/v1 at %s, main at %s", tagged, main)
	}
}
