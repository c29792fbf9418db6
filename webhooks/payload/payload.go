// Package payload reads what a forge's webhook delivery says: the refs a
// GitHub or GitLab event names, whether it is a push, a ping or about a pull
// (merge) request. It depends on the forges' payload types and the git contract's ref-update type only, so that its
// fuzz targets build without the rest of the server.
package payload

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/go-github/v75/github"
	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/pkgserver/pkgserver/internal/revision"
)

// Forges.
const (
	GitHub = "github"
	GitLab = "gitlab"
)

// Hint is what a delivery tells pkgserver, in its own terms.
type Hint struct {
	// Sync is set when git may have changed: the repository is fetched
	// and reconciled.
	Sync bool
	// Refs are the refs the delivery names, with old and new targets where
	// it gives them (hints: git is read for the truth).
	Refs []revision.RefUpdate
	// Ping is a forge's test delivery.
	Ping bool
	// Push is set for a push of commits or tags: the head commit of each
	// ref it names is checked.
	Push bool
	// PullRequest is the number of the pull (merge) request an event is
	// about, 0 if none; what pkgserver does with it depends on the state
	// the forge's API gives, not the payload's.
	PullRequest int
	// Repository is the forge repository the payload names: owner/repo on
	// GitHub, the project's path on GitLab ("" when it names none); Project
	// is GitLab's project id.
	Repository string
	Project    int
}

// Parse reads a delivery's payload. Events pkgserver does not act on give
// an empty Hint and no error; a malformed payload of an event it acts on
// is an error.
func Parse(forge, event string, payload []byte) (*Hint, error) {
	switch forge {
	case GitHub:
		return parseGitHub(event, payload)
	case GitLab:
		return parseGitLab(event, payload)
	}
	return nil, fmt.Errorf("unknown forge %q", forge)
}

func parseGitHub(event string, payload []byte) (*Hint, error) {
	switch event {
	case "ping", "push", "create", "delete", "pull_request":
	default:
		return &Hint{}, nil
	}
	ev, err := github.ParseWebHook(event, payload)
	if err != nil {
		return nil, fmt.Errorf("%s payload: %w", event, err)
	}
	switch e := ev.(type) {
	case *github.PingEvent:
		return &Hint{Ping: true}, nil
	case *github.PushEvent:
		if e.GetRef() == "" {
			return nil, fmt.Errorf("push payload without a ref")
		}
		return &Hint{Sync: true, Push: true, Repository: e.GetRepo().GetFullName(),
			Refs: []revision.RefUpdate{{Ref: e.GetRef(), Old: e.GetBefore(), New: e.GetAfter()}}}, nil
	case *github.CreateEvent:
		return &Hint{Sync: true, Repository: e.GetRepo().GetFullName(), Refs: []revision.RefUpdate{{Ref: githubRef(e.GetRefType(), e.GetRef())}}}, nil
	case *github.DeleteEvent:
		return &Hint{Sync: true, Repository: e.GetRepo().GetFullName(), Refs: []revision.RefUpdate{{Ref: githubRef(e.GetRefType(), e.GetRef())}}}, nil
	case *github.PullRequestEvent:
		pr := e.GetPullRequest()
		if pr == nil {
			return nil, fmt.Errorf("pull_request payload without a pull request")
		}
		h := &Hint{Sync: true, Repository: e.GetRepo().GetFullName(),
			Refs: []revision.RefUpdate{{Ref: "refs/heads/" + pr.GetHead().GetRef(), New: pr.GetHead().GetSHA()}}}
		switch e.GetAction() {
		case "opened", "reopened", "synchronize", "closed", "edited", "ready_for_review", "converted_to_draft":
			h.PullRequest = e.GetNumber()
			if h.PullRequest == 0 {
				h.PullRequest = pr.GetNumber()
			}
			if h.PullRequest <= 0 {
				// Acted on by its number: without one there is nothing
				// to read from the API, and the delivery must not pass
				// for done.
				return nil, fmt.Errorf("pull_request payload without a number (action %q)", e.GetAction())
			}
		}
		return h, nil
	}
	return &Hint{}, nil
}

// githubRef makes a full ref name of create and delete events' short ones.
func githubRef(refType, ref string) string {
	if strings.HasPrefix(ref, "refs/") {
		return ref
	}
	if refType == "tag" {
		return "refs/tags/" + ref
	}
	return "refs/heads/" + ref
}

func parseGitLab(event string, payload []byte) (*Hint, error) {
	switch gitlab.EventType(event) {
	case gitlab.EventTypePush, gitlab.EventTypeTagPush, gitlab.EventTypeMergeRequest:
	default:
		return &Hint{}, nil
	}
	if !json.Valid(payload) {
		return nil, fmt.Errorf("%s payload is not JSON", event)
	}
	ev, err := gitlab.ParseWebhook(gitlab.EventType(event), payload)
	if err != nil {
		return nil, fmt.Errorf("%s payload: %w", event, err)
	}
	switch e := ev.(type) {
	case *gitlab.PushEvent:
		if e.Ref == "" {
			return nil, fmt.Errorf("push payload without a ref")
		}
		return &Hint{Sync: true, Push: true, Repository: projectPath(e.Project.PathWithNamespace), Project: int(e.ProjectID),
			Refs: []revision.RefUpdate{{Ref: e.Ref, Old: e.Before, New: e.After}}}, nil
	case *gitlab.TagEvent:
		if e.Ref == "" {
			return nil, fmt.Errorf("tag push payload without a ref")
		}
		return &Hint{Sync: true, Push: true, Repository: projectPath(e.Project.PathWithNamespace), Project: int(e.ProjectID),
			Refs: []revision.RefUpdate{{Ref: e.Ref, Old: e.Before, New: e.After}}}, nil
	case *gitlab.MergeEvent:
		attrs := e.ObjectAttributes
		h := &Hint{Sync: true, Repository: projectPath(e.Project.PathWithNamespace), Project: int(e.Project.ID)}
		if attrs.SourceBranch != "" {
			h.Refs = append(h.Refs, revision.RefUpdate{Ref: "refs/heads/" + attrs.SourceBranch})
		}
		switch attrs.Action {
		case "open", "reopen", "update", "merge", "close":
			h.PullRequest = int(attrs.IID)
			if h.PullRequest <= 0 {
				// Acted on by its iid: without one there is nothing to
				// read from the API, and the delivery must not pass for
				// done.
				return nil, fmt.Errorf("merge request payload without an iid (action %q)", attrs.Action)
			}
		}
		return h, nil
	}
	return &Hint{}, nil
}

func projectPath(p string) string { return strings.Trim(p, "/") }
