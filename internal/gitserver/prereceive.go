package gitserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pkgserver/pkgserver/hooks"
	"github.com/pkgserver/pkgserver/hooks/forward"
	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/pkgcheck"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// HookPrefix is where hooks post: <prefix>pre-receive, <prefix>post-receive.
const HookPrefix = "/hooks/v1/"

// Applier indexes the ref updates of an accepted push.
type Applier interface {
	Apply(ctx context.Context, namespace, name string, updates []revision.RefUpdate) error
}

// Hook time limits: deciding on a push (waiting for the repository's other
// pushes included), and indexing it.
const (
	PreReceiveTimeout  = 2 * time.Minute
	PostReceiveTimeout = 30 * time.Second
	maxHookBody        = 4 << 20
)

// HookHandler answers the hooks of pushes under way. A hook authenticates
// with its push's token; nothing else is accepted.
func (h *Host) HookHandler(checker *hooks.Checker, applier Applier) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hook := strings.TrimPrefix(r.URL.Path, HookPrefix)
		if r.Method != http.MethodPost || (hook != "pre-receive" && hook != "post-receive") {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		push, ok := h.Pushes.Lookup(tok)
		if !ok {
			http.Error(w, "no push under way has this token", http.StatusUnauthorized)
			return
		}
		var req forward.Request
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxHookBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			http.Error(w, "malformed hook request: "+err.Error(), http.StatusBadRequest)
			return
		}
		var resp *forward.Response
		if hook == "pre-receive" {
			resp = h.preReceive(r.Context(), push, &req, checker)
		} else {
			resp = h.postReceive(r.Context(), push, &req, applier)
		}
		data, err := json.Marshal(resp)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		_, _ = w.Write(data)
	})
}

func (h *Host) preReceive(ctx context.Context, push *Push, req *forward.Request, checker *hooks.Checker) *forward.Response {
	limit := h.PreReceiveTimeout
	if limit <= 0 {
		limit = PreReceiveTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	start := time.Now()
	log := h.Log.With("repo", push.Namespace+"/"+push.Repository, "pusher", push.Pusher.Name)
	refuse := func(msg string) *forward.Response {
		return &forward.Response{Messages: []string{"pkgserver: " + msg, "pkgserver: the push is refused"}}
	}
	repo, err := h.Store.GetRepository(ctx, push.Namespace, push.Repository)
	if errors.Is(err, store.ErrNotFound) {
		return refuse("the repository is no longer registered")
	}
	if err != nil {
		log.Error("pre-receive: read repository", "err", err)
		return refuse("internal error")
	}
	g, err := gitrepo.Open(push.GitDir)
	if err == nil {
		g, err = g.WithQuarantine(gitrepo.Quarantine{
			ObjectDirectory:            req.Quarantine.ObjectDirectory,
			AlternateObjectDirectories: req.Quarantine.AlternateObjectDirectories,
			QuarantinePath:             req.Quarantine.QuarantinePath,
		})
	}
	if err != nil {
		log.Warn("pre-receive: open repository", "err", err)
		return refuse("the push's objects could not be read: " + err.Error())
	}
	if err := h.Pushes.Lock(ctx, push, repo.ID); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			log.Warn("pre-receive: timeout waiting for another push", "duration", time.Since(start))
			return refuse(fmt.Sprintf("another push to %s/%s held the repository past the limit of a push's decision (%v, waiting for other pushes included); nothing was updated",
				push.Namespace, push.Repository, limit))
		}
		return refuse(fmt.Sprintf("%v; nothing was updated", err))
	}
	role := effectiveRole(push.Pusher, push.Namespace)
	d, err := checker.Check(ctx, &hooks.Push{Repo: g, Config: repo.Config(), Role: role, Updates: req.Updates, Rules: pkgcheck.RulesOf(repo)})
	if errors.Is(err, hooks.ErrTimeout) {
		log.Warn("pre-receive: timeout", "updates", len(req.Updates), "duration", time.Since(start))
		return refuse(fmt.Sprintf("the push could not be decided within %v, the limit of a push's decision (waiting for other pushes to the repository included); nothing was updated", limit))
	}
	if err != nil {
		log.Error("pre-receive: check", "err", err)
		return refuse(fmt.Sprintf("the push could not be checked: %v", err))
	}
	log.Info("pre-receive", "accept", d.Accept, "updates", len(req.Updates), "validated", d.Validated, "duration", time.Since(start))
	if d.Accept {
		push.setValidated(repo.ID, d.Validations(time.Now()))
	}
	return &forward.Response{Accept: d.Accept, Messages: d.Lines}
}

func (h *Host) postReceive(ctx context.Context, push *Push, req *forward.Request, applier Applier) *forward.Response {
	ctx, cancel := context.WithTimeout(ctx, PostReceiveTimeout)
	defer cancel()
	updates := make([]revision.RefUpdate, 0, len(req.Updates))
	for _, u := range req.Updates {
		if gitrepo.ValidateRefName(u.Ref) != nil {
			continue
		}
		updates = append(updates, u)
	}
	start := time.Now()
	defer h.upkeep(push.GitDir)
	// The refs are written: the next push may be checked against them.
	defer h.Pushes.Unlock(push)
	if err := applier.Apply(ctx, push.Namespace, push.Repository, updates); err != nil {
		return &forward.Response{Accept: true, Messages: []string{
			fmt.Sprintf("pkgserver: the push is in git, but indexing it failed (%v); the next sync retries", err)}}
	}
	// The validations of the pushed packages, now that they are revisions.
	if repoID, validated := push.takeValidated(); len(validated) > 0 {
		if err := h.Store.RecordValidations(ctx, repoID, validated); err != nil {
			h.Log.Warn("post-receive: record validations", "repo", push.Namespace+"/"+push.Repository, "err", err)
		}
	}
	return &forward.Response{Accept: true, Messages: []string{
		fmt.Sprintf("pkgserver: indexed %s/%s in %d ms", push.Namespace, push.Repository, time.Since(start).Milliseconds())}}
}

// effectiveRole is the pusher's role in the repository's namespace.
func effectiveRole(p Pusher, namespace string) store.Role {
	for _, r := range []store.Role{store.RoleAdmin, store.RoleWrite, store.RoleRead} {
		if allowed(p, namespace, r) {
			return r
		}
	}
	return ""
}
