package webhooks

import "github.com/pkgserver/pkgserver/webhooks/payload"

// Forges.
const (
	GitHub = payload.GitHub
	GitLab = payload.GitLab
)

// Hint is what a delivery tells pkgserver, in its own terms (see package
// payload).
type Hint = payload.Hint

// Parse reads a delivery's payload (see payload.Parse).
func Parse(forge, event string, p []byte) (*Hint, error) { return payload.Parse(forge, event, p) }
