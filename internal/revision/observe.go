package revision

import "time"

// Made is who made a git object, when, and the message it carries: the
// committer of a commit, the tagger of an annotated tag.
type Made struct {
	Name, Email string
	When        time.Time
	Message     string
	// AuthorEmail and AuthorWhen are a commit's author's email and time.
	// Porch commits as itself and records who approved a revision as the
	// author of the approval commit, which is who Porch reports as having
	// published it.
	AuthorEmail string
	AuthorWhen  time.Time
}

// Signature is who made the object as git prints it: "Name <email>", or
// the name alone when there is no email.
func (m Made) Signature() string {
	if m.Email == "" {
		return m.Name
	}
	return m.Name + " <" + m.Email + ">"
}

// Observe is what the index observes of the package of src, a ref of the
// repository cfg describes, at a commit of the ref, whose tree of the package is tree ("" if the commit does not
// hold it). committed is the commit's committer and message; tagged is the
// tagger and message of the annotated tag the ref names, nil for a branch
// or a lightweight tag.
//
// The tagger, else the committer, is who made the ref's object and when
// (At). Who published (By) is that same person for a tag and for the head
// of the branch, and nobody for a draft, a proposal or a deletion
// proposal, which are not published. The publish records of a v<N> tag are
// read from the tag's message, then the commit's. A v<N> tag Porch
// published (PublishedByPorch, any version of Porch) is published by the
// approval commit's author, by email, at its author time, as Porch reports
// it.
func Observe(cfg Config, src Source, commit, tree string, committed Made, tagged *Made) Observation {
	o := Observation{Source: src, Commit: commit, Tree: tree}
	var messages []string
	if tagged != nil {
		o.By, o.At = tagged.Signature(), tagged.When
		messages = append(messages, tagged.Message)
	}
	if o.By == "" {
		o.By, o.At = committed.Signature(), committed.When
	}
	messages = append(messages, committed.Message)
	if src.Kind == KindTag && src.Number > 0 {
		full := cfg.Normalize().Full(src.Package)
		o.PublishedWorkspace = PublishedWorkspace(messages, full, src.Number)
		o.PullRequest = PublishedPullRequest(messages, full, src.Number)
		if committed.AuthorEmail != "" && PublishedByPorch(messages, committed.Email, full, src.Number) {
			o.By, o.At = committed.AuthorEmail, committed.AuthorWhen
		}
	}
	if src.Kind != KindTag && src.Kind != KindBranch {
		o.By = ""
	}
	return o
}
