package store

import (
	"context"
	"time"
)

// Delivery is a webhook delivery from a forge, stored before it is
// acknowledged.
type Delivery struct {
	ID int64
	// Forge is "github" or "gitlab"; DeliveryID the forge's id of the
	// delivery, unique per forge.
	Forge      string
	DeliveryID string
	Namespace  string
	Repository string
	// Event is the forge's event name (X-GitHub-Event, X-Gitlab-Event).
	Event      string
	Payload    []byte
	ReceivedAt time.Time
	// Attempts counts processing attempts; Done is set once processed;
	// Error says why the last attempt failed; ProcessedAt is when the last
	// attempt ended (zero before the first).
	Attempts    int
	Done        bool
	Error       string
	ProcessedAt time.Time
}

// DeliveryNotActedOn begins the Error of a delivery that was recorded and
// not acted on (a payload that does not parse, one about another forge
// repository): such a delivery is done, and was not a failure to process.
const DeliveryNotActedOn = "not acted on"

// DeliveryOutcome is the result of an attempt to process a delivery.
type DeliveryOutcome struct {
	ID     int64
	Done   bool
	Reason string
	// RetryAt is when a delivery left pending is tried again: its claimant
	// keeps it until then (FinishClaimedDeliveries).
	RetryAt time.Time
}

// Deliveries are the webhook deliveries of forges, stored before they are
// acknowledged and processed after.
type Deliveries interface {
	// AddDelivery stores a webhook delivery, durably, unless its forge's
	// id is there already; it reports whether the delivery was new.
	AddDelivery(ctx context.Context, d *Delivery) (bool, error)
	// AddDeliveries stores deliveries in one transaction and reports
	// which were new; a delivery id twice in ds is new once.
	AddDeliveries(ctx context.Context, ds []*Delivery) ([]bool, error)
	// PendingDeliveries returns deliveries not processed yet, oldest
	// first, after the one with ID after (0 from the start).
	PendingDeliveries(ctx context.Context, after int64, limit int) ([]Delivery, error)
	// FinishDelivery records an attempt: done, or failed (left pending)
	// with a reason.
	FinishDelivery(ctx context.Context, id int64, done bool, reason string) error
	// FinishDeliveries records attempts of many deliveries in one
	// transaction.
	FinishDeliveries(ctx context.Context, outcomes []DeliveryOutcome) error
	GetDelivery(ctx context.Context, forge, deliveryID string) (*Delivery, error)
	// RecentDeliveries returns a repository's deliveries newest first,
	// those with an ID below before (0: from the newest), without their
	// payloads.
	RecentDeliveries(ctx context.Context, namespace, repository string, before int64, limit int) ([]Delivery, error)
	// CompactDeliveries forgets deliveries processed before a time.
	CompactDeliveries(ctx context.Context, before time.Time) error
}

// Pull request states.
const (
	PullRequestOpen   = "open"
	PullRequestClosed = "closed"
	PullRequestMerged = "merged"
)

// PullRequest is a GitHub pull request or a GitLab merge request of a
// repository, as its forge last described it.
type PullRequest struct {
	Number int
	// SourceBranch and TargetBranch are branch names (without refs/heads/).
	SourceBranch string
	TargetBranch string
	State        string
	HeadCommit   string
	MergeCommit  string
	UpdatedAt    time.Time
}

// PullRequests are the forges' pull and merge requests of repositories,
// as the webhooks last heard of them; the reconciler reads the open ones.
type PullRequests interface {
	// SetPullRequest records what a forge says of a pull or merge request
	// of a repository; OpenPullRequests returns the open ones.
	SetPullRequest(ctx context.Context, repoID int64, pr *PullRequest) error
	OpenPullRequests(ctx context.Context, repoID int64) ([]PullRequest, error)
}

// Check is the report of validating a commit, to post to the forge as a
// check run or a commit status.
type Check struct {
	ID         int64
	Namespace  string
	Repository string
	Commit     string
	// Name is the check's name on the forge (pkgserver).
	Name string
	// Ref is the ref the commit was pushed to.
	Ref string
	// Conclusion is success, failure or neutral.
	Conclusion string
	Title      string
	Summary    string
	// Results are the findings, as JSON (result.Result).
	Results   []byte
	CreatedAt time.Time
	CheckPosting
}

// CheckPosting is how far a check was posted to its forge.
type CheckPosting struct {
	// Reported is set once the forge holds all of it.
	Reported bool
	// ExternalID is the forge's id of the check run; Posted counts the
	// annotations it holds.
	ExternalID  string
	Posted      int
	Attempts    int
	NextAttempt time.Time
	Error       string
}

// Checks are the reports of validating commits, kept until they are
// posted to their forge as check runs or commit statuses; the API answers
// their details.
type Checks interface {
	// AddCheck stores the report of a check of a commit unless one of its
	// name is there; it reports whether it was new.
	AddCheck(ctx context.Context, c *Check) (bool, error)
	// DueChecks returns checks not posted to their forge in full whose next
	// attempt is due, oldest first, at most perRepo of each repository.
	DueChecks(ctx context.Context, now time.Time, perRepo, limit int) ([]Check, error)
	// CompactChecks forgets checks posted (or given up) before a time.
	CompactChecks(ctx context.Context, before time.Time) error
	// NextCheckAttempt returns the earliest next attempt after now of the
	// checks not posted in full; zero if none is waiting.
	NextCheckAttempt(ctx context.Context, now time.Time) (time.Time, error)
	// UpdateCheckPosting records how far a check was posted.
	UpdateCheckPosting(ctx context.Context, id int64, p CheckPosting) error
	// Checks returns the checks of a commit of a repository, by name.
	Checks(ctx context.Context, namespace, repository, commit string) ([]Check, error)
}
