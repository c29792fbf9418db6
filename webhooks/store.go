package webhooks

import "github.com/pkgserver/pkgserver/internal/store"

// ProcessorStore is what the processor reads and writes of the index: the
// repositories deliveries are for, the revisions of merged workspaces, the
// validations and checks of what forges tell of, the deliveries to process
// and the pull requests they describe.
type ProcessorStore interface {
	store.Repositories
	store.Index
	store.Validations
	store.Deliveries
	store.DeliveryLeases
	store.PullRequestRefreshes
	store.PullRequests
	store.Checks
}

// ReceiverStore is what the receiver needs of the index: the repositories
// webhooks are for, and the deliveries it stores before it answers.
type ReceiverStore interface {
	store.Repositories
	store.Deliveries
}

// ReporterStore is what the reporter needs of the index: the repositories
// and the checks it posts to their forges.
type ReporterStore interface {
	store.Repositories
	store.Checks
	store.CheckLeases
}
