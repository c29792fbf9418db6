package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v75/github"
	gitlab "gitlab.com/gitlab-org/api/client-go"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/result"
	"github.com/pkgserver/pkgserver/internal/store"
)

// Forge is what pkgserver asks of GitHub or GitLab through its REST API.
type Forge interface {
	// PullRequest returns a pull (merge) request as the forge has it now.
	PullRequest(ctx context.Context, number int) (*PullRequest, error)
	// CreateTag creates the annotated tag refs/tags/<name> on a commit;
	// ErrTagExists when the name is taken.
	CreateTag(ctx context.Context, name, commit, message string) error
	// PostCheck posts a check to the commit, resuming from what c's posting
	// says was posted, and calls save after each call the forge took; it
	// returns how far it got, with an error when not to the end.
	PostCheck(ctx context.Context, c *store.Check, results []result.Result, detailsURL string, save func(store.CheckPosting) error) (store.CheckPosting, error)
}

// PullRequest is a forge's pull or merge request in pkgserver's terms.
type PullRequest struct {
	store.PullRequest
	// BaseCommit is the target branch's commit the request was compared
	// with; Fork is set when the source branch is another repository's (or
	// one since deleted).
	BaseCommit string
	Fork       bool
}

// ErrTagExists is returned by CreateTag when the tag is there already.
var ErrTagExists = errors.New("the tag exists")

// APIError is a failed call to a forge's API. Retry says whether trying
// again later may succeed (server errors, rate limits, the network); After
// is how long the forge asked to wait, 0 if it did not say.
type APIError struct {
	Op     string
	Status int
	Retry  bool
	After  time.Duration
	Err    error
}

func (e *APIError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("%s: %d: %v", e.Op, e.Status, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Op, e.Err)
}

func (e *APIError) Unwrap() error { return e.Err }

// Retryable tells whether a forge call that failed may succeed later.
func Retryable(err error) (bool, time.Duration) {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Retry, ae.After
	}
	return true, 0 // not an answer of the forge: the network, a timeout
}

// ForgeFunc returns the client of a repository's forge.
type ForgeFunc func(ctx context.Context, repo *store.Repository) (Forge, error)

// TokenFunc returns the API token of a repository: the token (or password)
// of its stored credentials, "" without any.
type TokenFunc func(ctx context.Context, repo *store.Repository) (string, error)

// Forges builds forge clients with the repositories' credentials.
func Forges(token TokenFunc, httpClient *http.Client) ForgeFunc {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	return func(ctx context.Context, repo *store.Repository) (Forge, error) {
		tok, err := token(ctx, repo)
		if err != nil {
			return nil, fmt.Errorf("the API token of %s/%s: %w", repo.Object.Namespace, repo.Object.Name, err)
		}
		spec := repo.Object.Spec
		switch {
		case spec.Provider == configv1alpha1.ProviderGitHub && spec.GitHub != nil:
			c := github.NewClient(httpClient)
			if tok != "" {
				c = c.WithAuthToken(tok)
			}
			if spec.GitHub.BaseURL != "" {
				u, err := url.Parse(strings.TrimSuffix(spec.GitHub.BaseURL, "/") + "/")
				if err != nil {
					return nil, fmt.Errorf("github.baseURL: %w", err)
				}
				c.BaseURL = u
			}
			return &githubForge{c: c, owner: spec.GitHub.Owner, repo: spec.GitHub.Repo}, nil
		case spec.Provider == configv1alpha1.ProviderGitLab && spec.GitLab != nil:
			opts := []gitlab.ClientOptionFunc{gitlab.WithHTTPClient(httpClient), gitlab.WithoutRetries()}
			if spec.GitLab.BaseURL != "" {
				opts = append(opts, gitlab.WithBaseURL(spec.GitLab.BaseURL))
			}
			c, err := gitlab.NewClient(tok, opts...)
			if err != nil {
				return nil, err
			}
			var pid any = strings.Trim(spec.GitLab.Project, "/")
			if id, err := strconv.Atoi(spec.GitLab.Project); err == nil {
				pid = id
			}
			name := fmt.Sprint(pid)
			if _, ok := pid.(int); ok {
				name = "project " + name
			}
			return &gitlabForge{c: c, project: pid, name: name}, nil
		}
		return nil, fmt.Errorf("repository %s/%s is not on GitHub or GitLab", repo.Object.Namespace, repo.Object.Name)
	}
}

// classify turns an HTTP answer into an APIError: 5xx, 429 and rate limits
// are worth retrying, other refusals are not.
func classify(op string, resp *http.Response, err error) error {
	ae := &APIError{Op: op, Err: err, Retry: true}
	var rl *github.RateLimitError
	var abuse *github.AbuseRateLimitError
	switch {
	case errors.As(err, &rl):
		ae.Status, ae.After = http.StatusForbidden, time.Until(rl.Rate.Reset.Time)
		return ae.clamp()
	case errors.As(err, &abuse):
		ae.Status = http.StatusForbidden
		if abuse.RetryAfter != nil {
			ae.After = *abuse.RetryAfter
		}
		return ae.clamp()
	}
	if resp == nil {
		return ae // no answer: the network
	}
	ae.Status = resp.StatusCode
	if s := resp.Header.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			ae.After = time.Duration(n) * time.Second
		}
	}
	limited := resp.Header.Get("X-RateLimit-Remaining") == "0" || resp.Header.Get("RateLimit-Remaining") == "0"
	if limited && ae.After == 0 {
		for _, h := range []string{"X-RateLimit-Reset", "RateLimit-Reset"} {
			if n, err := strconv.ParseInt(resp.Header.Get(h), 10, 64); err == nil {
				ae.After = time.Until(time.Unix(n, 0))
				break
			}
		}
	}
	ae.Retry = resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests ||
		(resp.StatusCode == http.StatusForbidden && (limited || ae.After > 0))
	return ae.clamp()
}

// maxWait bounds how long a forge may ask pkgserver to wait.
const maxWait = time.Hour

func (e *APIError) clamp() *APIError {
	e.After = min(max(e.After, 0), maxWait)
	return e
}

// Annotations per request: GitHub takes at most 50 in one call; a check
// run gets at most maxAnnotations (the others are in the full report).
const (
	annotationsPerCall = 50
	maxAnnotations     = 1000
)

type githubForge struct {
	c           *github.Client
	owner, repo string
}

func (f *githubForge) PullRequest(ctx context.Context, number int) (*PullRequest, error) {
	pr, resp, err := f.c.PullRequests.Get(ctx, f.owner, f.repo, number)
	if err != nil {
		return nil, classify(fmt.Sprintf("get pull request #%d of %s/%s", number, f.owner, f.repo), ghResp(resp), err)
	}
	out := &PullRequest{PullRequest: store.PullRequest{Number: pr.GetNumber(), SourceBranch: pr.GetHead().GetRef(),
		TargetBranch: pr.GetBase().GetRef(), HeadCommit: pr.GetHead().GetSHA()}, BaseCommit: pr.GetBase().GetSHA()}
	switch {
	case pr.GetMerged():
		out.State, out.MergeCommit = store.PullRequestMerged, pr.GetMergeCommitSHA()
	case pr.GetState() == "open":
		out.State = store.PullRequestOpen
	default:
		out.State = store.PullRequestClosed
	}
	head, base := pr.GetHead().GetRepo(), pr.GetBase().GetRepo()
	switch {
	case head == nil:
		out.Fork = true // a fork since deleted
	case head.GetID() != 0 && base.GetID() != 0:
		out.Fork = head.GetID() != base.GetID()
	default:
		out.Fork = !strings.EqualFold(head.GetFullName(), f.owner+"/"+f.repo)
	}
	return out, nil
}

func (f *githubForge) CreateTag(ctx context.Context, name, commit, message string) error {
	tag, resp, err := f.c.Git.CreateTag(ctx, f.owner, f.repo, github.CreateTag{Tag: name, Message: message, Object: commit, Type: "commit"})
	if err != nil {
		return classify("create tag object", ghResp(resp), err)
	}
	_, resp, err = f.c.Git.CreateRef(ctx, f.owner, f.repo, github.CreateRef{Ref: "refs/tags/" + name, SHA: tag.GetSHA()})
	if err != nil {
		if r := ghResp(resp); r != nil && r.StatusCode == http.StatusUnprocessableEntity && strings.Contains(err.Error(), "already exists") {
			return ErrTagExists
		}
		return classify("create tag ref", ghResp(resp), err)
	}
	return nil
}

func ghResp(r *github.Response) *http.Response {
	if r == nil {
		return nil
	}
	return r.Response
}

// PostCheck creates a check run with the first 50 annotations and adds the
// others 50 at a time; when the token may not create check runs (GitHub
// grants that to GitHub Apps only), it posts a commit status instead. After
// an attempt that may have created the run without recording it, the run
// is looked up by its external id rather than created again.
func (f *githubForge) PostCheck(ctx context.Context, c *store.Check, results []result.Result, detailsURL string, save func(store.CheckPosting) error) (store.CheckPosting, error) {
	p := c.CheckPosting
	anns := githubAnnotations(results)
	if p.ExternalID == "status" {
		return f.postStatus(ctx, c, detailsURL, p)
	}
	if p.ExternalID == "" && c.Attempts > 0 {
		id, posted, err := f.findRun(ctx, c)
		if err != nil {
			return p, err
		}
		if id != "" {
			p.ExternalID, p.Posted = id, min(posted, len(anns))
		}
	}
	for p.ExternalID == "" || p.Posted < len(anns) {
		end := min(p.Posted+annotationsPerCall, len(anns))
		out := &github.CheckRunOutput{Title: github.Ptr(c.Title), Summary: github.Ptr(truncate(c.Summary, 65535)), Annotations: anns[p.Posted:end]}
		if p.ExternalID == "" {
			run, resp, err := f.c.Checks.CreateCheckRun(ctx, f.owner, f.repo, github.CreateCheckRunOptions{
				Name: c.Name, HeadSHA: c.Commit, DetailsURL: nonEmpty(detailsURL), ExternalID: github.Ptr(strconv.FormatInt(c.ID, 10)),
				Status: github.Ptr("completed"), Conclusion: github.Ptr(c.Conclusion), Output: out,
			})
			if err != nil {
				if r := ghResp(resp); r != nil && (r.StatusCode == http.StatusForbidden || r.StatusCode == http.StatusNotFound) {
					if retry, _ := Retryable(classify("", r, err)); !retry {
						// Not allowed to create check runs: a commit status.
						return f.postStatus(ctx, c, detailsURL, p)
					}
				}
				return p, classify("create check run", ghResp(resp), err)
			}
			p.ExternalID = strconv.FormatInt(run.GetID(), 10)
		} else {
			id, err := strconv.ParseInt(p.ExternalID, 10, 64)
			if err != nil {
				return p, &APIError{Op: "update check run", Err: fmt.Errorf("check run id %q", p.ExternalID)}
			}
			_, resp, err := f.c.Checks.UpdateCheckRun(ctx, f.owner, f.repo, id, github.UpdateCheckRunOptions{Name: c.Name, Output: out})
			if err != nil {
				return p, classify("update check run", ghResp(resp), err)
			}
		}
		p.Posted = end
		if err := save(p); err != nil {
			return p, err
		}
	}
	p.Reported = true
	return p, nil
}

// findRun looks for the check run an earlier attempt created: the commit's
// run of the check's name whose external id is the check's. It returns its
// id and how many annotations it holds.
func (f *githubForge) findRun(ctx context.Context, c *store.Check) (string, int, error) {
	runs, resp, err := f.c.Checks.ListCheckRunsForRef(ctx, f.owner, f.repo, c.Commit, &github.ListCheckRunsOptions{CheckName: github.Ptr(c.Name)})
	if err != nil {
		if r := ghResp(resp); r != nil && (r.StatusCode == http.StatusForbidden || r.StatusCode == http.StatusNotFound) {
			if retry, _ := Retryable(classify("", r, err)); !retry {
				return "", 0, nil // no checks for this token: a status will be posted
			}
		}
		return "", 0, classify("list check runs", ghResp(resp), err)
	}
	want := strconv.FormatInt(c.ID, 10)
	for _, r := range runs.CheckRuns {
		if r.GetExternalID() == want {
			return strconv.FormatInt(r.GetID(), 10), r.GetOutput().GetAnnotationsCount(), nil
		}
	}
	return "", 0, nil
}

func (f *githubForge) postStatus(ctx context.Context, c *store.Check, detailsURL string, p store.CheckPosting) (store.CheckPosting, error) {
	state := "success"
	if c.Conclusion == "failure" {
		state = "failure"
	}
	_, resp, err := f.c.Repositories.CreateStatus(ctx, f.owner, f.repo, c.Commit, &github.RepoStatus{State: github.Ptr(state),
		TargetURL: nonEmpty(detailsURL), Description: github.Ptr(truncate(c.Title, 140)), Context: github.Ptr(c.Name)})
	p.ExternalID = "status"
	if err != nil {
		return p, classify("create commit status", ghResp(resp), err)
	}
	p.Reported = true
	return p, nil
}

// githubAnnotations turns findings into annotations: those without a file
// are in the summary only.
func githubAnnotations(results []result.Result) []*github.CheckRunAnnotation {
	var out []*github.CheckRunAnnotation
	for _, r := range results {
		if r.File == nil || r.File.Path == "" {
			continue
		}
		line := max(r.File.Line, 1)
		level := "notice"
		switch r.Severity {
		case result.Error:
			level = "failure"
		case result.Warning:
			level = "warning"
		}
		out = append(out, &github.CheckRunAnnotation{Path: github.Ptr(r.File.Path), StartLine: github.Ptr(line), EndLine: github.Ptr(line),
			AnnotationLevel: github.Ptr(level), Message: github.Ptr(truncate(r.Message, 64<<10)), Title: github.Ptr(r.Check)})
		if len(out) == maxAnnotations {
			break
		}
	}
	return out
}

type gitlabForge struct {
	c       *gitlab.Client
	project any
	// name is the project as errors name it: its path, or "project <id>".
	name string
}

func glResp(r *gitlab.Response) *http.Response {
	if r == nil {
		return nil
	}
	return r.Response
}

// glError names the request a GitLab call failed on, as go-github's
// errors do: the client's own error for a 404 is a bare "404 Not Found".
// Its other errors name the request already. The URL is given without its
// query or credentials.
func glError(resp *gitlab.Response, err error) error {
	var er *gitlab.ErrorResponse
	r := glResp(resp)
	if errors.As(err, &er) || r == nil || r.Request == nil || r.Request.URL == nil {
		return err
	}
	u := r.Request.URL
	return fmt.Errorf("%s %s://%s%s: %w", r.Request.Method, u.Scheme, u.Host, u.EscapedPath(), err)
}

func (f *gitlabForge) PullRequest(ctx context.Context, number int) (*PullRequest, error) {
	mr, resp, err := f.c.MergeRequests.GetMergeRequest(f.project, int64(number), nil, gitlab.WithContext(ctx))
	if err != nil {
		return nil, classify(fmt.Sprintf("get merge request !%d of %s", number, f.name), glResp(resp), glError(resp, err))
	}
	out := &PullRequest{PullRequest: store.PullRequest{Number: int(mr.IID), SourceBranch: mr.SourceBranch, TargetBranch: mr.TargetBranch,
		HeadCommit: mr.SHA}, Fork: mr.SourceProjectID != 0 && mr.TargetProjectID != 0 && mr.SourceProjectID != mr.TargetProjectID}
	if mr.DiffRefs.BaseSha != "" {
		out.BaseCommit = mr.DiffRefs.BaseSha
	}
	switch mr.State {
	case "opened", "locked":
		out.State = store.PullRequestOpen
	case "merged":
		out.State, out.MergeCommit = store.PullRequestMerged, mr.MergeCommitSHA
		if out.MergeCommit == "" {
			// Fast-forward merges with squashing have only the squash
			// commit; plain fast-forwards land the head itself.
			out.MergeCommit = mr.SquashCommitSHA
		}
		if out.MergeCommit == "" {
			out.MergeCommit = mr.SHA
		}
	default:
		out.State = store.PullRequestClosed
	}
	return out, nil
}

func (f *gitlabForge) CreateTag(ctx context.Context, name, commit, message string) error {
	_, resp, err := f.c.Tags.CreateTag(f.project, &gitlab.CreateTagOptions{TagName: &name, Ref: &commit, Message: &message}, gitlab.WithContext(ctx))
	if err != nil {
		if r := glResp(resp); r != nil && r.StatusCode == http.StatusBadRequest && strings.Contains(err.Error(), "already exists") {
			return ErrTagExists
		}
		return classify(fmt.Sprintf("create tag %s of %s", name, f.name), glResp(resp), glError(resp, err))
	}
	return nil
}

// PostCheck posts a commit status (GitLab has no check runs); its target
// URL leads to the full report.
func (f *gitlabForge) PostCheck(ctx context.Context, c *store.Check, _ []result.Result, detailsURL string, _ func(store.CheckPosting) error) (store.CheckPosting, error) {
	p := c.CheckPosting
	state := gitlab.Success
	if c.Conclusion == "failure" {
		state = gitlab.Failed
	}
	opt := &gitlab.SetCommitStatusOptions{State: state, Name: gitlab.Ptr(c.Name), TargetURL: nonEmpty(detailsURL),
		Description: gitlab.Ptr(truncate(c.Title, 255))}
	if ref, ok := strings.CutPrefix(c.Ref, "refs/heads/"); ok {
		opt.Ref = &ref
	}
	_, resp, err := f.c.Commits.SetCommitStatus(f.project, c.Commit, opt, gitlab.WithContext(ctx))
	p.ExternalID = "status"
	if err != nil {
		return p, classify(fmt.Sprintf("set commit status of %s in %s", truncate(c.Commit, 12), f.name), glResp(resp), glError(resp, err))
	}
	p.Reported = true
	return p, nil
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// truncate shortens s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
