package revision

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Publish trailers: pkgserver ends the message of a publish commit (and of
// the annotated tags it creates) with
//
//	Package: <full path>
//	Workspace: <workspace>
//	Revision: v<N>
//
// and, when it publishes what a GitHub pull request or a GitLab merge
// request proposed,
//
//	Pull-Request: <number>
//
// A message may name several packages; each Package: line starts a group.
const (
	TrailerPackage     = "Package"
	TrailerWorkspace   = "Workspace"
	TrailerRevision    = "Revision"
	TrailerPullRequest = "Pull-Request"
)

// PublishTrailers formats the trailers of one publication.
func PublishTrailers(full, workspace string, n int) string {
	return TrailerPackage + ": " + full + "\n" + TrailerWorkspace + ": " + workspace + "\n" + TrailerRevision + ": " + FormatRevision(n) + "\n"
}

// PublishedWorkspace returns the workspace that publish records in the given
// messages (an annotated tag's, then its commit's) name for the package at
// full path at revision v<n>, or "": pkgserver's trailers first, then the
// "kpt:" annotation line Porch writes in its approval commits. A record
// counts only for the package and revision it names.
func PublishedWorkspace(messages []string, full string, n int) string {
	if ws := trailerWorkspace(messages, full, n); ws != "" {
		return ws
	}
	for _, m := range messages {
		if ws := porchWorkspace(m, full, n); ws != "" {
			return ws
		}
	}
	return ""
}

// porchEmail is the email Porch commits as, in every version of it.
const porchEmail = "porch@kpt.dev"

// PublishedByPorch tells whether the publish records in the given messages
// (an annotated tag's, then its commit's, last) and the commit's committer
// (an email) say that Porch published the package at full path at
// revision v<n>: the commit's message carries the "kpt:" line Porch writes
// in its approval commits for that package and revision — or, as Porch
// approved in 2022, before it wrote that line there, Porch committed it
// with the message "Approve <full>/v<n>" — and no pkgserver trailers name
// the publication.
func PublishedByPorch(messages []string, committer, full string, n int) bool {
	if len(messages) == 0 || trailerWorkspace(messages, full, n) != "" {
		return false
	}
	msg := messages[len(messages)-1]
	if porchWorkspace(msg, full, n) != "" {
		return true
	}
	subject, _, _ := strings.Cut(strings.TrimSpace(msg), "\n")
	return committer == porchEmail && strings.TrimSpace(subject) == "Approve "+full+"/"+FormatRevision(n)
}

// trailerWorkspace is the workspace pkgserver's publish trailers in the
// messages name for the package at full path at revision v<n>, or "".
func trailerWorkspace(messages []string, full string, n int) string {
	rev := FormatRevision(n)
	for _, m := range messages {
		for _, g := range trailerGroups(m) {
			if g[TrailerPackage] == full && (g[TrailerRevision] == "" || g[TrailerRevision] == rev) && IsLabel(g[TrailerWorkspace]) {
				return g[TrailerWorkspace]
			}
		}
	}
	return ""
}

// PublishedPullRequest returns the number of the pull request that publish
// records in the given messages name for the package at full path at
// revision v<n>, or 0.
func PublishedPullRequest(messages []string, full string, n int) int {
	rev := FormatRevision(n)
	for _, m := range messages {
		for _, g := range trailerGroups(m) {
			if g[TrailerPackage] != full || (g[TrailerRevision] != "" && g[TrailerRevision] != rev) {
				continue
			}
			if pr, err := strconv.Atoi(strings.TrimPrefix(g[TrailerPullRequest], "#")); err == nil && pr > 0 {
				return pr
			}
		}
	}
	return 0
}

// trailerGroups reads the Package/Workspace/Revision trailers of a message's
// last paragraph.
func trailerGroups(msg string) []map[string]string {
	paras := strings.Split(strings.TrimSpace(strings.ReplaceAll(msg, "\r\n", "\n")), "\n\n")
	last := paras[len(paras)-1]
	var groups []map[string]string
	for _, line := range strings.Split(last, "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		switch {
		case strings.EqualFold(key, TrailerPackage):
			groups = append(groups, map[string]string{TrailerPackage: val})
		case strings.EqualFold(key, TrailerWorkspace) && len(groups) > 0:
			groups[len(groups)-1][TrailerWorkspace] = val
		case strings.EqualFold(key, TrailerRevision) && len(groups) > 0:
			groups[len(groups)-1][TrailerRevision] = val
		case strings.EqualFold(key, TrailerPullRequest) && len(groups) > 0:
			groups[len(groups)-1][TrailerPullRequest] = val
		}
	}
	return groups
}

// porchAnnotation is the JSON of a "kpt:" line. Porch wrote the revision
// as "v1" before it numbered revisions, as 1 after.
type porchAnnotation struct {
	Package       string          `json:"package"`
	WorkspaceName string          `json:"workspaceName"`
	Revision      json.RawMessage `json:"revision"`
}

func porchWorkspace(msg, full string, n int) string {
	for _, line := range strings.Split(msg, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "kpt:") {
			continue
		}
		var a porchAnnotation
		if json.Unmarshal([]byte(strings.TrimPrefix(line, "kpt:")), &a) != nil {
			continue
		}
		if a.Package != full || !IsLabel(a.WorkspaceName) || porchRevision(a.Revision) != n {
			continue
		}
		return a.WorkspaceName
	}
	return ""
}

// porchRevision reads a kpt: line's revision, "v<N>" or N.
func porchRevision(raw json.RawMessage) int {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if n := ParseRevisionNumber(s); n > 0 {
			return n
		}
		n, err := strconv.Atoi(s)
		if err == nil && n > 0 {
			return n
		}
		return 0
	}
	var n int
	if json.Unmarshal(raw, &n) == nil && n > 0 {
		return n
	}
	return 0
}
