package forgetest

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Documentation URLs GitHub puts in its error bodies.
const (
	docRest      = "https://docs.github.com/rest"
	docPull      = "https://docs.github.com/rest/pulls/pulls#get-a-pull-request"
	docCreateRun = "https://docs.github.com/rest/checks/runs#create-a-check-run"
	docUpdateRun = "https://docs.github.com/rest/checks/runs#update-a-check-run"
	docStatus    = "https://docs.github.com/rest/commits/statuses#create-a-commit-status"
	docTag       = "https://docs.github.com/rest/git/tags#create-a-tag-object"
	docRef       = "https://docs.github.com/rest/git/refs#create-a-reference"
	docRateLimit = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
)

// GitHub is a stand-in for the GitHub REST API serving one repository.
type GitHub struct {
	// URL is the root of the API, like https://api.github.com.
	URL string
	// Token is the token requests must present.
	Token string

	owner, name string
	repo        *repo
	rec         recorder

	mu           sync.Mutex
	forbidChecks bool
	pulls        map[int]PullRequest
	runs         []CheckRun
	statuses     []Status
	nextID       int64
}

// PullRequest is a pull request the GitHub stand-in serves.
type PullRequest struct {
	Number         int
	State          string // open or closed; empty means open
	Merged         bool
	MergeCommitSHA string
	HeadRef        string
	HeadSHA        string
	BaseRef        string
	BaseSHA        string
	HeadRepo       string // owner/repo of the head; empty means the served repository, "-" a fork since deleted (null)
	Title          string
}

// CheckRun is a check run as created and then updated through the API.
type CheckRun struct {
	ID         int64
	Name       string
	HeadSHA    string
	Status     string
	Conclusion string
	DetailsURL string
	ExternalID string
	Title      string
	Summary    string
	Text       string
	// Annotations accumulates the annotations of every request.
	Annotations []Annotation
}

// Annotation is a check run annotation.
type Annotation struct {
	Path            string `json:"path"`
	StartLine       int    `json:"start_line"`
	EndLine         int    `json:"end_line"`
	AnnotationLevel string `json:"annotation_level"`
	Message         string `json:"message"`
	Title           string `json:"title,omitempty"`
}

// Status is a commit status posted through the API.
type Status struct {
	SHA         string
	State       string
	TargetURL   string
	Description string
	Context     string
}

// NewGitHub starts a stand-in serving owner/repo, whose git repository is
// gitDir, to clients presenting token. The server is closed when the test ends.
func NewGitHub(t testing.TB, gitDir, owner, repo, token string) *GitHub {
	g := &GitHub{Token: token, owner: owner, name: repo, repo: newRepo(t, gitDir), pulls: map[int]PullRequest{}}
	srv := httptest.NewServer(g.rec.handler(ghError(http.StatusRequestEntityTooLarge, "Payload too large", docRest), g.route))
	t.Cleanup(srv.Close)
	g.URL = srv.URL
	return g
}

// Calls returns the requests received so far, in order.
func (g *GitHub) Calls() []Call { return g.rec.allCalls() }

// CallsTo returns the requests with the given method (any when empty) whose
// path ends with pathSuffix.
func (g *GitHub) CallsTo(method, pathSuffix string) []Call { return g.rec.callsTo(method, pathSuffix) }

// FailNext makes the next n requests with the given method (any when empty)
// whose path below /repos/{owner}/{repo} starts with pathPrefix fail with
// status. A 429 carries Retry-After: 1 and the secondary rate limit message.
func (g *GitHub) FailNext(method, pathPrefix string, n, status int) {
	g.rec.failNext(method, pathPrefix, n, status)
}

// ClearFailures forgets the failures FailNext asked for and not yet given.
func (g *GitHub) ClearFailures() { g.rec.clearFailures() }

// ForbidChecks makes the check run endpoints answer 403, as GitHub does for
// tokens that do not belong to a GitHub App.
func (g *GitHub) ForbidChecks() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.forbidChecks = true
}

// SetPullRequest adds or replaces the pull request served under pr.Number.
func (g *GitHub) SetPullRequest(pr PullRequest) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pulls[pr.Number] = pr
}

// CheckRuns returns the check runs created so far.
func (g *GitHub) CheckRuns() []CheckRun {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := slices.Clone(g.runs)
	for i := range out {
		out[i].Annotations = slices.Clone(out[i].Annotations)
	}
	return out
}

// Statuses returns the commit statuses posted so far.
func (g *GitHub) Statuses() []Status {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.statuses)
}

func ghError(status int, message, doc string) reply {
	return reply{status: status, body: map[string]any{
		"message": message, "documentation_url": doc, "status": strconv.Itoa(status),
	}}
}

// invalid is GitHub's answer to a body that breaks the endpoint's schema.
func invalid(doc string, reasons ...string) reply {
	return ghError(http.StatusUnprocessableEntity, "Invalid request.\n\n"+strings.Join(reasons, "\n"), doc)
}

// validationFailed is GitHub's answer to a well-formed but unacceptable body.
func validationFailed(doc, resource, field, message string) reply {
	rep := ghError(http.StatusUnprocessableEntity, "Validation Failed", doc)
	rep.body.(map[string]any)["errors"] = []map[string]string{
		{"resource": resource, "code": "custom", "field": field, "message": message},
	}
	return rep
}

// notSupplied words GitHub's message for the required fields that are not
// present, or returns "" when all are.
func notSupplied(present map[string]bool) string {
	var quoted []string
	for _, f := range slices.Sorted(maps.Keys(present)) {
		if !present[f] {
			quoted = append(quoted, strconv.Quote(f))
		}
	}
	switch len(quoted) {
	case 0:
		return ""
	case 1:
		return quoted[0] + " wasn't supplied."
	}
	return strings.Join(quoted, ", ") + " weren't supplied."
}

func notInEnum(field, value string, enum ...string) string {
	if slices.Contains(enum, value) {
		return ""
	}
	return fmt.Sprintf("For 'properties/%s', %q is not a member of enum.", field, value)
}

// decode unmarshals a JSON body, answering as GitHub does when it cannot.
func decode(body []byte, v any, doc string) (reply, bool) {
	err := json.Unmarshal(body, v)
	if err == nil {
		return reply{}, true
	}
	if te, ok := err.(*json.UnmarshalTypeError); ok {
		return invalid(doc, fmt.Sprintf("For 'properties/%s', %s is not a %s.", te.Field, te.Value, te.Type)), false
	}
	return ghError(http.StatusBadRequest, "Problems parsing JSON", doc), false
}

func (g *GitHub) route(r *http.Request, body []byte) reply {
	auth := r.Header.Get("Authorization")
	scheme, token, _ := strings.Cut(auth, " ")
	if !(strings.EqualFold(scheme, "bearer") || strings.EqualFold(scheme, "token")) || token != g.Token || g.Token == "" {
		return ghError(http.StatusUnauthorized, "Bad credentials", docRest)
	}
	seg := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(seg) < 4 || seg[0] != "repos" || !strings.EqualFold(seg[1], g.owner) || !strings.EqualFold(seg[2], g.name) {
		return ghError(http.StatusNotFound, "Not Found", docRest)
	}
	rel, seg := "/"+strings.Join(seg[3:], "/"), seg[3:]
	if status := g.rec.takeFailure(r.Method, rel); status != 0 {
		return ghFailure(status)
	}
	ctx := r.Context()
	switch {
	case r.Method == http.MethodGet && len(seg) == 2 && seg[0] == "pulls":
		return g.getPull(seg[1])
	case (seg[0] == "check-runs" || (len(seg) == 3 && seg[2] == "check-runs")) && g.checksForbidden():
		return ghError(http.StatusForbidden, "You must authenticate via a GitHub App.", docCreateRun)
	case r.Method == http.MethodGet && len(seg) == 3 && seg[0] == "commits" && seg[2] == "check-runs":
		return g.listRuns(r, seg[1])
	case seg[0] == "check-runs" && g.checksForbidden():
		return ghError(http.StatusForbidden, "You must authenticate via a GitHub App.", docCreateRun)
	case r.Method == http.MethodPost && len(seg) == 1 && seg[0] == "check-runs":
		var req checkRunRequest
		if rep, ok := decode(body, &req, docCreateRun); !ok {
			return rep
		}
		if msg := notSupplied(map[string]bool{"name": req.Name != nil, "head_sha": req.HeadSHA != nil}); msg != "" {
			return invalid(docCreateRun, msg)
		}
		if g.repo.objectType(ctx, *req.HeadSHA) != "commit" {
			return ghError(http.StatusUnprocessableEntity, "No commit found for SHA: "+*req.HeadSHA, docCreateRun)
		}
		return g.saveRun(req, -1, docCreateRun)
	case r.Method == http.MethodPatch && len(seg) == 2 && seg[0] == "check-runs":
		id, err := strconv.ParseInt(seg[1], 10, 64)
		if err != nil {
			return ghError(http.StatusNotFound, "Not Found", docUpdateRun)
		}
		var req checkRunRequest
		if rep, ok := decode(body, &req, docUpdateRun); !ok {
			return rep
		}
		return g.saveRun(req, id, docUpdateRun)
	case r.Method == http.MethodPost && len(seg) == 2 && seg[0] == "statuses":
		return g.createStatus(r, seg[1], body)
	case r.Method == http.MethodPost && len(seg) == 2 && seg[0] == "git" && seg[1] == "tags":
		return g.createTag(r, body)
	case r.Method == http.MethodPost && len(seg) == 2 && seg[0] == "git" && seg[1] == "refs":
		return g.createRef(r, body)
	}
	return ghError(http.StatusNotFound, "Not Found", docRest)
}

func ghFailure(status int) reply {
	switch status {
	case http.StatusTooManyRequests:
		rep := ghError(status, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.", docRateLimit)
		rep.header = http.Header{"Retry-After": {"1"}}
		return rep
	case http.StatusForbidden:
		return ghError(status, "Resource not accessible by integration", docRest)
	case http.StatusNotFound:
		return ghError(status, "Not Found", docRest)
	case http.StatusInternalServerError:
		return ghError(status, "Server Error", docRest)
	}
	return ghError(status, http.StatusText(status), docRest)
}

func (g *GitHub) checksForbidden() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.forbidChecks
}

func (g *GitHub) repoURL() string { return g.URL + "/repos/" + g.owner + "/" + g.name }

func (g *GitHub) getPull(number string) reply {
	n, err := strconv.Atoi(number)
	g.mu.Lock()
	pr, ok := g.pulls[n]
	g.mu.Unlock()
	if err != nil || !ok {
		return ghError(http.StatusNotFound, "Not Found", docPull)
	}
	if pr.State == "" {
		pr.State = "open"
	}
	full := g.owner + "/" + g.name
	head := pr.HeadRepo
	if head == "" {
		head = full
	}
	var mergedAt any
	if pr.Merged {
		mergedAt = time.Now().UTC().Format(time.RFC3339)
	}
	return reply{status: http.StatusOK, body: map[string]any{
		"id":               int64(1000000 + pr.Number),
		"number":           pr.Number,
		"state":            pr.State,
		"title":            pr.Title,
		"merged":           pr.Merged,
		"merged_at":        mergedAt,
		"merge_commit_sha": nullable(pr.MergeCommitSHA),
		"url":              fmt.Sprintf("%s/pulls/%d", g.repoURL(), pr.Number),
		"html_url":         fmt.Sprintf("https://github.com/%s/pull/%d", full, pr.Number),
		"head":             branchJSON(head, pr.HeadRef, pr.HeadSHA),
		"base":             branchJSON(full, pr.BaseRef, pr.BaseSHA),
	}}
}

// repoID is a stable id for a repository's full name.
func repoID(fullName string) int64 {
	var h int64 = 7
	for _, c := range strings.ToLower(fullName) {
		h = (h*31 + int64(c)) % 1_000_000_007
	}
	return 100_000_000 + h
}

func branchJSON(fullName, ref, sha string) map[string]any {
	owner, name, _ := strings.Cut(fullName, "/")
	return map[string]any{
		"label": owner + ":" + ref,
		"ref":   ref,
		"sha":   sha,
		"user":  map[string]any{"login": owner, "type": "User"},
		"repo":  repoJSON(fullName, owner, name),
	}
}

// repoJSON is a branch's repository; null for a fork since deleted
// (HeadRepo "-").
func repoJSON(fullName, owner, name string) any {
	if fullName == "-" {
		return nil
	}
	return map[string]any{
		"id":        repoID(fullName),
		"name":      name,
		"full_name": fullName,
		"owner":     map[string]any{"login": owner, "type": "User"},
		"html_url":  "https://github.com/" + fullName,
	}
}
