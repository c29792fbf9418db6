package forgetest

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// GitLab is a stand-in for the GitLab REST API v4 serving one project.
type GitLab struct {
	// URL is the root of the instance; clients append /api/v4/.
	URL string
	// Token is the token requests must present.
	Token string

	project string
	id      int
	repo    *repo
	rec     recorder

	mu        sync.Mutex
	mrs       map[int]MergeRequest
	statuses  []GitLabStatus
	open      map[string]string // state of the pending or running status per sha, ref and name
	pipelines map[string]int    // pipeline id per sha and ref
	tags      []GitLabTag
	nextID    int
}

// MergeRequest is a merge request the GitLab stand-in serves.
type MergeRequest struct {
	IID             int
	State           string // opened, closed, merged or locked; empty means opened
	SourceBranch    string
	TargetBranch    string
	SHA             string
	MergeCommitSHA  string
	SquashCommitSHA string
	SourceProjectID int // zero means the served project
	BaseSHA         string
	Title           string
}

// GitLabStatus is a commit status posted through the API.
type GitLabStatus struct {
	SHA         string
	State       string
	Name        string
	TargetURL   string
	Description string
	Ref         string
}

// GitLabTag is a tag created through the API.
type GitLabTag struct {
	Name    string
	Ref     string
	Message string
}

// NewGitLab starts a stand-in serving the project with the given path (like
// acme/blueprints) and numeric id, whose git repository is gitDir, to clients
// presenting token. The server is closed when the test ends.
func NewGitLab(t testing.TB, gitDir, project string, projectID int, token string) *GitLab {
	g := &GitLab{
		Token: token, project: project, id: projectID, repo: newRepo(t, gitDir),
		mrs: map[int]MergeRequest{}, open: map[string]string{}, pipelines: map[string]int{},
	}
	tooLarge := glError(http.StatusRequestEntityTooLarge, "413 Request Entity Too Large")
	srv := httptest.NewServer(g.rec.handler(tooLarge, g.route))
	t.Cleanup(srv.Close)
	g.URL = srv.URL
	return g
}

// Calls returns the requests received so far, in order.
func (g *GitLab) Calls() []Call { return g.rec.allCalls() }

// CallsTo returns the requests with the given method (any when empty) whose
// escaped path ends with pathSuffix.
func (g *GitLab) CallsTo(method, pathSuffix string) []Call { return g.rec.callsTo(method, pathSuffix) }

// FailNext makes the next n requests with the given method (any when empty)
// whose path below /api/v4/projects/{id} starts with pathPrefix fail with
// status. A 429 carries Retry-After: 1, as GitLab's rate limiter answers.
func (g *GitLab) FailNext(method, pathPrefix string, n, status int) {
	g.rec.failNext(method, pathPrefix, n, status)
}

// SetMergeRequest adds or replaces the merge request served under mr.IID.
func (g *GitLab) SetMergeRequest(mr MergeRequest) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mrs[mr.IID] = mr
}

// Statuses returns the commit statuses posted so far.
func (g *GitLab) Statuses() []GitLabStatus {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.statuses)
}

// Tags returns the tags created through the API so far.
func (g *GitLab) Tags() []GitLabTag {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.tags)
}

func glError(status int, message string) reply {
	return reply{status: status, body: map[string]string{"message": message}}
}

// glInvalid is the answer of GitLab's parameter validation.
func glInvalid(message string) reply {
	return reply{status: http.StatusBadRequest, body: map[string]string{"error": message}}
}

func (g *GitLab) route(r *http.Request, body []byte) reply {
	seg := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	if len(seg) < 2 || seg[0] != "api" || seg[1] != "v4" {
		return reply{status: http.StatusNotFound, body: map[string]string{"error": "404 Not Found"}}
	}
	token := r.Header.Get("PRIVATE-TOKEN")
	if scheme, bearer, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "bearer") {
		token = bearer
	}
	if token == "" || token != g.Token {
		return glError(http.StatusUnauthorized, "401 Unauthorized")
	}
	if len(seg) < 5 || seg[2] != "projects" {
		return reply{status: http.StatusNotFound, body: map[string]string{"error": "404 Not Found"}}
	}
	if pid, err := url.PathUnescape(seg[3]); err != nil || pid != strconv.Itoa(g.id) && !strings.EqualFold(pid, g.project) {
		return glError(http.StatusNotFound, "404 Project Not Found")
	}
	rel, seg := "/"+strings.Join(seg[4:], "/"), seg[4:]
	if status := g.rec.takeFailure(r.Method, rel); status != 0 {
		if status == http.StatusTooManyRequests {
			return reply{status: status, body: []byte("Retry later\n"), header: http.Header{
				"Retry-After": {"1"}, "Content-Type": {"text/plain"},
			}}
		}
		return glError(status, fmt.Sprintf("%d %s", status, http.StatusText(status)))
	}
	for i := range seg {
		seg[i], _ = url.PathUnescape(seg[i])
	}
	switch {
	case r.Method == http.MethodGet && len(seg) == 2 && seg[0] == "merge_requests":
		return g.getMergeRequest(seg[1])
	case r.Method == http.MethodPost && len(seg) == 2 && seg[0] == "statuses":
		params, rep, ok := glParams(r, body)
		if !ok {
			return rep
		}
		return g.setStatus(r.Context(), seg[1], params)
	case r.Method == http.MethodPost && len(seg) == 2 && seg[0] == "repository" && seg[1] == "tags":
		params, rep, ok := glParams(r, body)
		if !ok {
			return rep
		}
		return g.createTag(r.Context(), params)
	}
	return reply{status: http.StatusNotFound, body: map[string]string{"error": "404 Not Found"}}
}

// glParams collects the parameters of a request from its query and from its
// JSON or form body, as GitLab's API accepts both.
func glParams(r *http.Request, body []byte) (url.Values, reply, bool) {
	params := r.URL.Query()
	media, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case media == "application/json" && len(body) > 0:
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, glInvalid("The provided content-type 'application/json' is not supported."), false
		}
		for k, v := range m {
			switch v := v.(type) {
			case string:
				params.Set(k, v)
			case nil:
			default:
				b, _ := json.Marshal(v)
				params.Set(k, string(b))
			}
		}
	case media == "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, glInvalid("invalid form body"), false
		}
		for k, v := range form {
			params[k] = v
		}
	}
	return params, reply{}, true
}

func (g *GitLab) projectURL() string { return "https://gitlab.example.com/" + g.project }

func (g *GitLab) getMergeRequest(iid string) reply {
	n, err := strconv.Atoi(iid)
	g.mu.Lock()
	mr, ok := g.mrs[n]
	g.mu.Unlock()
	if err != nil || !ok {
		return glError(http.StatusNotFound, "404 Not found")
	}
	if mr.State == "" {
		mr.State = "opened"
	}
	if mr.SourceProjectID == 0 {
		mr.SourceProjectID = g.id
	}
	return reply{status: http.StatusOK, body: map[string]any{
		"id":                1000000 + mr.IID,
		"iid":               mr.IID,
		"project_id":        g.id,
		"title":             mr.Title,
		"description":       "",
		"state":             mr.State,
		"draft":             false,
		"source_branch":     mr.SourceBranch,
		"target_branch":     mr.TargetBranch,
		"source_project_id": mr.SourceProjectID,
		"target_project_id": g.id,
		"sha":               mr.SHA,
		"merge_commit_sha":  nullable(mr.MergeCommitSHA),
		"squash_commit_sha": nullable(mr.SquashCommitSHA),
		"web_url":           fmt.Sprintf("%s/-/merge_requests/%d", g.projectURL(), mr.IID),
		"diff_refs":         map[string]any{"base_sha": mr.BaseSHA, "head_sha": mr.SHA, "start_sha": mr.BaseSHA},
	}}
}

// events names the state machine event behind each state GitLab accepts.
var events = map[string]string{
	"pending": "enqueue", "running": "run", "success": "succeed",
	"failed": "drop", "canceled": "cancel", "skipped": "skip",
}

func (g *GitLab) setStatus(ctx context.Context, rev string, p url.Values) reply {
	state := p.Get("state")
	if !p.Has("state") {
		return glInvalid("state is missing")
	}
	event, ok := events[state]
	if !ok {
		return glInvalid("state does not have a valid value")
	}
	sha, ok := g.repo.commit(ctx, rev)
	if !ok {
		return glError(http.StatusNotFound, "404 Commit Not Found")
	}
	ref := p.Get("ref")
	if ref == "" {
		ref, _ = g.repo.git(ctx, "", "for-each-ref", "--count=1", "--contains", sha, "--format=%(refname:lstrip=2)", "refs/heads/")
		if ref == "" {
			return glError(http.StatusNotFound, "404 References for commit Not Found")
		}
	}
	name := p.Get("name")
	if name == "" {
		name = p.Get("context")
	}
	if name == "" {
		name = "default"
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	// A pending or running status moves through GitLab's state machine; a
	// finished one is replaced by a new status.
	key := sha + "\x00" + ref + "\x00" + name
	if from := g.open[key]; from != "" && !transitions(from, state) {
		return glError(http.StatusBadRequest, fmt.Sprintf(
			"Cannot transition status via :%s from :%s (Reason(s): Status cannot transition via %q)", event, from, event))
	}
	if state == "pending" || state == "running" {
		g.open[key] = state
	} else {
		delete(g.open, key)
	}
	pipeline := g.pipelines[sha+"\x00"+ref]
	if pipeline == 0 {
		g.nextID++
		pipeline = g.nextID
		g.pipelines[sha+"\x00"+ref] = pipeline
	}
	g.nextID++
	st := GitLabStatus{SHA: sha, State: state, Name: name, TargetURL: p.Get("target_url"),
		Description: p.Get("description"), Ref: ref}
	g.statuses = append(g.statuses, st)
	now := time.Now().UTC().Format(time.RFC3339)
	var finished any
	if state != "pending" && state != "running" {
		finished = now
	}
	return reply{status: http.StatusCreated, body: map[string]any{
		"id":            g.nextID,
		"sha":           sha,
		"ref":           ref,
		"status":        state,
		"name":          name,
		"target_url":    nullable(st.TargetURL),
		"description":   nullable(st.Description),
		"created_at":    now,
		"started_at":    nil,
		"finished_at":   finished,
		"allow_failure": false,
		"coverage":      nil,
		"pipeline_id":   pipeline,
		"author": map[string]any{
			"id": 1, "username": "pkgserver-standin", "name": "pkgserver stand-in", "state": "active",
			"web_url": "https://gitlab.example.com/pkgserver-standin",
		},
	}}
}

// transitions reports whether a pending or running status may move to state.
func transitions(from, state string) bool {
	if from == "pending" {
		return state != "pending"
	}
	return state != "pending" && state != "running" && state != "skipped"
}

func (g *GitLab) createTag(ctx context.Context, p url.Values) reply {
	name, ref, message := p.Get("tag_name"), p.Get("ref"), p.Get("message")
	switch {
	case !p.Has("tag_name"):
		return glInvalid("tag_name is missing")
	case !p.Has("ref"):
		return glInvalid("ref is missing")
	case strings.HasPrefix(name, "-") || !g.repo.validRef(ctx, "refs/tags/"+name):
		return glError(http.StatusBadRequest, "Tag name invalid")
	}
	g.repo.write.Lock()
	defer g.repo.write.Unlock()
	if g.repo.refExists(ctx, "refs/tags/"+name) {
		return glError(http.StatusBadRequest, "Tag "+name+" already exists")
	}
	sha, ok := g.repo.commit(ctx, ref)
	if !ok {
		return glError(http.StatusBadRequest, "Target "+ref+" is invalid")
	}
	var err error
	if message != "" {
		_, err = g.repo.git(ctx, "", "-c", "user.name=pkgserver-standin", "-c", "user.email=standin@example.com",
			"tag", "-a", "-m", message, name, sha)
	} else {
		_, err = g.repo.git(ctx, "", "update-ref", "refs/tags/"+name, sha, "")
	}
	if err != nil {
		return glError(http.StatusBadRequest, err.Error())
	}
	target, err := g.repo.git(ctx, "", "rev-parse", "refs/tags/"+name)
	if err != nil {
		return glError(http.StatusInternalServerError, "500 Internal Server Error")
	}
	commit, err := g.commitJSON(ctx, sha)
	if err != nil {
		return glError(http.StatusInternalServerError, "500 Internal Server Error")
	}
	g.mu.Lock()
	g.tags = append(g.tags, GitLabTag{Name: name, Ref: ref, Message: message})
	g.mu.Unlock()
	return reply{status: http.StatusCreated, body: map[string]any{
		"name":       name,
		"message":    message,
		"target":     target,
		"commit":     commit,
		"release":    nil,
		"protected":  false,
		"created_at": nil,
	}}
}

// commitJSON describes a commit as GitLab's commit entity does.
func (g *GitLab) commitJSON(ctx context.Context, sha string) (map[string]any, error) {
	out, err := g.repo.git(ctx, "", "show", "-s", "--format=%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B", sha)
	if err != nil {
		return nil, err
	}
	f := strings.SplitN(out, "\x00", 8)
	if len(f) != 8 {
		return nil, fmt.Errorf("unexpected git show output %q", out)
	}
	title, _, _ := strings.Cut(f[7], "\n")
	return map[string]any{
		"id":              sha,
		"short_id":        sha[:8],
		"title":           title,
		"message":         f[7],
		"parent_ids":      strings.Fields(f[0]),
		"author_name":     f[1],
		"author_email":    f[2],
		"authored_date":   f[3],
		"committer_name":  f[4],
		"committer_email": f[5],
		"committed_date":  f[6],
		"created_at":      f[6],
		"web_url":         g.projectURL() + "/-/commit/" + sha,
	}, nil
}

// ClearFailures forgets the failures FailNext asked for and not yet given.
func (g *GitLab) ClearFailures() { g.rec.clearFailures() }
