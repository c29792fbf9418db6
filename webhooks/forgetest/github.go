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
	"unicode/utf8"
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

type checkRunRequest struct {
	Name       *string `json:"name"`
	HeadSHA    *string `json:"head_sha"`
	Status     *string `json:"status"`
	Conclusion *string `json:"conclusion"`
	DetailsURL *string `json:"details_url"`
	ExternalID *string `json:"external_id"`
	Output     *struct {
		Title       *string `json:"title"`
		Summary     *string `json:"summary"`
		Text        *string `json:"text"`
		Annotations []struct {
			Path            *string `json:"path"`
			StartLine       *int    `json:"start_line"`
			EndLine         *int    `json:"end_line"`
			AnnotationLevel *string `json:"annotation_level"`
			Message         *string `json:"message"`
			Title           string  `json:"title"`
		} `json:"annotations"`
	} `json:"output"`
}

// saveRun validates req and creates a check run (id < 0) or updates one.
func (g *GitHub) saveRun(req checkRunRequest, id int64, doc string) reply {
	var reasons []string
	add := func(s string) {
		if s != "" {
			reasons = append(reasons, s)
		}
	}
	if req.Status != nil {
		add(notInEnum("status", *req.Status, "queued", "in_progress", "completed"))
	}
	if req.Conclusion != nil {
		add(notInEnum("conclusion", *req.Conclusion, "action_required", "cancelled", "failure",
			"neutral", "success", "skipped", "stale", "timed_out"))
	}
	var annotations []Annotation
	if o := req.Output; o != nil {
		add(notSupplied(map[string]bool{"summary": o.Summary != nil, "title": o.Title != nil}))
		for _, s := range []*string{o.Summary, o.Text} {
			if n := utf8.RuneCountInString(deref(s)); n > 65535 {
				add(fmt.Sprintf("Only 65535 characters are allowed; %d were supplied.", n))
			}
		}
		if len(o.Annotations) > 50 {
			add(fmt.Sprintf("For 'properties/annotations', only 50 items are allowed; %d were supplied.", len(o.Annotations)))
		}
		for _, a := range o.Annotations {
			if msg := notSupplied(map[string]bool{"annotation_level": a.AnnotationLevel != nil, "end_line": a.EndLine != nil,
				"message": a.Message != nil, "path": a.Path != nil, "start_line": a.StartLine != nil}); msg != "" {
				add(msg)
				continue
			}
			add(notInEnum("annotation_level", *a.AnnotationLevel, "notice", "warning", "failure"))
			annotations = append(annotations, Annotation{Path: *a.Path, StartLine: *a.StartLine, EndLine: *a.EndLine,
				AnnotationLevel: *a.AnnotationLevel, Message: *a.Message, Title: a.Title})
		}
	}
	if len(reasons) > 0 {
		return invalid(doc, reasons...)
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	next, i := CheckRun{Status: "queued"}, -1
	if id >= 0 {
		if i = slices.IndexFunc(g.runs, func(r CheckRun) bool { return r.ID == id }); i < 0 {
			return ghError(http.StatusNotFound, "Not Found", doc)
		}
		next = g.runs[i]
		next.Annotations = slices.Clone(next.Annotations)
	}
	set := func(dst *string, src *string) {
		if src != nil && *src != "" {
			*dst = *src
		}
	}
	set(&next.Name, req.Name)
	set(&next.HeadSHA, req.HeadSHA)
	set(&next.Status, req.Status)
	set(&next.Conclusion, req.Conclusion)
	set(&next.DetailsURL, req.DetailsURL)
	set(&next.ExternalID, req.ExternalID)
	if req.Conclusion != nil {
		next.Status = "completed"
	}
	if next.Status == "completed" && next.Conclusion == "" {
		return invalid(doc, notSupplied(map[string]bool{"conclusion": false}))
	}
	if o := req.Output; o != nil {
		set(&next.Title, o.Title)
		set(&next.Summary, o.Summary)
		set(&next.Text, o.Text)
		next.Annotations = append(next.Annotations, annotations...)
	}
	if i < 0 {
		g.nextID++
		next.ID = g.nextID
		g.runs = append(g.runs, next)
	} else {
		g.runs[i] = next
	}
	status := http.StatusOK
	if id < 0 {
		status = http.StatusCreated
	}
	return reply{status: status, body: g.runJSON(next)}
}

// runJSON is a check run as the API shows it.
func (g *GitHub) runJSON(run CheckRun) map[string]any {
	var completedAt any
	if run.Status == "completed" {
		completedAt = time.Now().UTC().Format(time.RFC3339)
	}
	url := fmt.Sprintf("%s/check-runs/%d", g.repoURL(), run.ID)
	return map[string]any{
		"id":           run.ID,
		"node_id":      fmt.Sprintf("CR_%d", run.ID),
		"name":         run.Name,
		"head_sha":     run.HeadSHA,
		"status":       run.Status,
		"conclusion":   nullable(run.Conclusion),
		"details_url":  nullable(run.DetailsURL),
		"external_id":  run.ExternalID,
		"url":          url,
		"html_url":     fmt.Sprintf("https://github.com/%s/%s/runs/%d", g.owner, g.name, run.ID),
		"started_at":   time.Now().UTC().Format(time.RFC3339),
		"completed_at": completedAt,
		"output": map[string]any{
			"title":             nullable(run.Title),
			"summary":           nullable(run.Summary),
			"text":              nullable(run.Text),
			"annotations_count": len(run.Annotations),
			"annotations_url":   url + "/annotations",
		},
		"pull_requests": []any{},
	}
}

// listRuns answers GET /commits/{ref}/check-runs: the runs of a commit,
// filtered by check_name.
func (g *GitHub) listRuns(r *http.Request, sha string) reply {
	name := r.URL.Query().Get("check_name")
	g.mu.Lock()
	defer g.mu.Unlock()
	runs := []any{}
	for _, run := range g.runs {
		if run.HeadSHA == sha && (name == "" || run.Name == name) {
			runs = append(runs, g.runJSON(run))
		}
	}
	return reply{status: http.StatusOK, body: map[string]any{"total_count": len(runs), "check_runs": runs}}
}

func (g *GitHub) createStatus(r *http.Request, sha string, body []byte) reply {
	var req struct {
		State       *string `json:"state"`
		TargetURL   string  `json:"target_url"`
		Description string  `json:"description"`
		Context     string  `json:"context"`
	}
	if rep, ok := decode(body, &req, docStatus); !ok {
		return rep
	}
	if req.State == nil {
		return invalid(docStatus, notSupplied(map[string]bool{"state": false}))
	}
	if msg := notInEnum("state", *req.State, "error", "failure", "pending", "success"); msg != "" {
		return invalid(docStatus, msg)
	}
	if g.repo.objectType(r.Context(), sha) != "commit" {
		return ghError(http.StatusUnprocessableEntity, "No commit found for SHA: "+sha, docStatus)
	}
	if len(req.Description) > 140 {
		return validationFailed(docStatus, "Status", "description", "description is too long (maximum is 140 characters)")
	}
	if req.Context == "" {
		req.Context = "default"
	}
	g.mu.Lock()
	g.statuses = append(g.statuses, Status{SHA: sha, State: *req.State, TargetURL: req.TargetURL,
		Description: req.Description, Context: req.Context})
	g.nextID++
	id := g.nextID
	g.mu.Unlock()
	now := time.Now().UTC().Format(time.RFC3339)
	return reply{status: http.StatusCreated, body: map[string]any{
		"id":          id,
		"node_id":     fmt.Sprintf("SC_%d", id),
		"url":         g.repoURL() + "/statuses/" + sha,
		"state":       *req.State,
		"description": nullable(req.Description),
		"target_url":  nullable(req.TargetURL),
		"context":     req.Context,
		"created_at":  now,
		"updated_at":  now,
		"creator":     map[string]any{"login": "pkgserver-standin", "id": 1, "type": "User"},
	}}
}

func (g *GitHub) createTag(r *http.Request, body []byte) reply {
	var req struct {
		Tag, Message, Object, Type *string
		Tagger                     *struct {
			Name, Email string
			Date        *time.Time
		}
	}
	if rep, ok := decode(body, &req, docTag); !ok {
		return rep
	}
	if msg := notSupplied(map[string]bool{"message": req.Message != nil, "object": req.Object != nil,
		"tag": req.Tag != nil, "type": req.Type != nil}); msg != "" {
		return invalid(docTag, msg)
	}
	if msg := notInEnum("type", *req.Type, "commit", "tree", "blob"); msg != "" {
		return invalid(docTag, msg)
	}
	name, email, date := "pkgserver-standin", "standin@example.com", time.Now()
	if t := req.Tagger; t != nil {
		name, email = t.Name, t.Email
		if t.Date != nil {
			date = *t.Date
		}
	}
	msg := *req.Message
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	text := fmt.Sprintf("object %s\ntype %s\ntag %s\ntagger %s <%s> %d %s\n\n%s",
		*req.Object, *req.Type, *req.Tag, name, email, date.Unix(), date.Format("-0700"), msg)
	ctx := r.Context()
	if g.repo.objectType(ctx, *req.Object) == "" {
		return ghError(http.StatusUnprocessableEntity, "Object does not exist", docTag)
	}
	g.repo.write.Lock()
	sha, err := g.repo.git(ctx, text, "mktag")
	g.repo.write.Unlock()
	if err != nil {
		return invalid(docTag, err.Error())
	}
	return reply{status: http.StatusCreated, body: map[string]any{
		"node_id": "TAG_" + sha,
		"sha":     sha,
		"url":     g.repoURL() + "/git/tags/" + sha,
		"tag":     *req.Tag,
		"message": *req.Message,
		"tagger":  map[string]any{"name": name, "email": email, "date": date.UTC().Format(time.RFC3339)},
		"object":  g.object(*req.Type, *req.Object),
		"verification": map[string]any{
			"verified": false, "reason": "unsigned", "signature": nil, "payload": nil,
		},
	}}
}

func (g *GitHub) object(typ, sha string) map[string]any {
	return map[string]any{"type": typ, "sha": sha, "url": g.repoURL() + "/git/" + typ + "s/" + sha}
}

func (g *GitHub) createRef(r *http.Request, body []byte) reply {
	var req struct{ Ref, SHA *string }
	if rep, ok := decode(body, &req, docRef); !ok {
		return rep
	}
	if msg := notSupplied(map[string]bool{"ref": req.Ref != nil, "sha": req.SHA != nil}); msg != "" {
		return invalid(docRef, msg)
	}
	ref, sha, ctx := *req.Ref, *req.SHA, r.Context()
	if !strings.HasPrefix(ref, "refs/") || strings.Count(ref, "/") < 2 {
		return ghError(http.StatusUnprocessableEntity, "Reference name must contain at least three slash-separated components.", docRef)
	}
	if !g.repo.validRef(ctx, ref) {
		return ghError(http.StatusUnprocessableEntity, ref+" is not a valid ref name.", docRef)
	}
	typ := g.repo.objectType(ctx, sha)
	if typ == "" {
		return ghError(http.StatusUnprocessableEntity, "Object does not exist", docRef)
	}
	g.repo.write.Lock()
	defer g.repo.write.Unlock()
	if g.repo.refExists(ctx, ref) {
		return ghError(http.StatusUnprocessableEntity, "Reference already exists", docRef)
	}
	if _, err := g.repo.git(ctx, "", "update-ref", ref, sha, ""); err != nil {
		return ghError(http.StatusUnprocessableEntity, "Reference update failed", docRef)
	}
	return reply{status: http.StatusCreated, body: map[string]any{
		"ref":     ref,
		"node_id": "REF_" + ref,
		"url":     g.repoURL() + "/git/" + ref,
		"object":  g.object(typ, sha),
	}}
}

// ClearFailures forgets the failures FailNext asked for and not yet given.
func (g *GitHub) ClearFailures() { g.rec.clearFailures() }
