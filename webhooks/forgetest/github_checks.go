package forgetest

import (
	"fmt"
	"net/http"
	"slices"
	"time"
	"unicode/utf8"
)

// checkRunRequest is the body of a check run's creation or update.
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
