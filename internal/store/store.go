// Package store is pkgserver's index: registered repositories, and the
// package revisions and their files derived from git. The revisions are a
// cache of git that can be rebuilt at any time; repositories are the index's
// own data. Implementations: sqlstore (SQLite embedded, PostgreSQL).
package store

import (
	"context"
	"errors"
	"time"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/revision"
)

// Errors of the store.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	// ErrConflict is returned for a write whose expected resource version is
	// not the object's current one.
	ErrConflict = errors.New("conflict: the object has been modified")
	// ErrInvalidContinue is returned for a continue token the store did not
	// issue.
	ErrInvalidContinue = errors.New("invalid continue token")
	// ErrCompacted is returned for a resource version older than the
	// oldest change the store still holds: the caller must list again.
	ErrCompacted = errors.New("resource version too old")
)

// Role is what an API token or a user may do in its namespace:
// read < write < admin.
type Role string

// The roles.
const (
	RoleRead  Role = "read"
	RoleWrite Role = "write"
	RoleAdmin Role = "admin"
)

// AllNamespaces is the namespace of a token or user valid in every
// namespace.
const AllNamespaces = "*"

// Token is an API token, of which only a hash is kept.
type Token struct {
	Name string
	// Hash is the SHA-256 of the token, in hex.
	Hash      string
	Namespace string
	Role      Role
	CreatedAt time.Time
}

// User is a person or machine that reaches the git host over SSH with one
// or more public keys, with a role in a namespace (AllNamespaces for every
// namespace), as tokens have.
type User struct {
	Name      string
	Namespace string
	Role      Role
	Keys      []SSHKey
	CreatedAt time.Time
}

// SSHKey is a user's public key.
type SSHKey struct {
	// Fingerprint is ssh.FingerprintSHA256 of the key ("SHA256:...").
	Fingerprint string
	// AuthorizedKey is the key in authorized_keys format, without comment.
	AuthorizedKey string
	Comment       string
}

// Event types of a watch.
const (
	Added    = "ADDED"
	Modified = "MODIFIED"
	Deleted  = "DELETED"
)

// Event is a change of a package revision, with its state then (its last
// state for a deletion).
type Event struct {
	Type     string
	Revision Revision
	// Previous is, for a modification, the revision before it as selectors
	// see it (its fields and meta; not its validation), so that a watch
	// with a selector tells a revision entering or leaving it from one
	// that never matched.
	Previous *Revision `json:",omitempty"`
}

// RepositoryEvent is a change of a repository, with its state then (its
// last state for a deletion) and, for a modification, its state before.
type RepositoryEvent struct {
	Type            string
	ResourceVersion int64
	Repository      configv1alpha1.Repository
	Previous        *configv1alpha1.Repository
}

// EventFilter narrows the changes of revisions read to those of one
// namespace, repository or revision name; "" is any.
type EventFilter struct {
	Namespace  string
	Repository string
	Name       string
}

// RevisionList is a page of revisions.
type RevisionList struct {
	Items []Revision
	// Continue is the token of the next page, "" after the last.
	Continue string
	// ResourceVersion is the store's resource version when the page was
	// read: a watch from it sees every later change.
	ResourceVersion int64
}

// Repository is a registered repository.
type Repository struct {
	ID int64
	// Object is the Repository as the API shows it; its metadata's
	// resourceVersion and creationTimestamp are the store's.
	Object configv1alpha1.Repository
}

// Config returns the git contract's view of the repository.
func (r *Repository) Config() revision.Config {
	return revision.Config{
		Repository: r.Object.Name,
		Directory:  r.Object.Spec.Git.Directory,
		Branch:     r.Object.Spec.Git.BranchOrDefault(),
	}.Normalize()
}

// Revision is an indexed package revision.
type Revision struct {
	revision.Revision
	Namespace       string
	Repository      string
	ResourceVersion int64
	// Meta is what the revision's Kptfile says about it.
	Meta revision.Meta `json:",omitzero"`
	// Validation is the outcome of the last validation pkgserver ran of
	// the revision's tree in its repository; nil if it never did.
	Validation *Validation `json:",omitempty"`
}

// Validation is the outcome of validating a package tree in a repository.
type Validation struct {
	Errors, Warnings int
	At               time.Time
	// Results are the findings, as JSON (result.Result); read only by
	// Store.Validation, not with revisions.
	Results []byte `json:"-"`
}

// RefRecord is a ref as last indexed: its target and, for refs of the git
// contract, the observation of its package.
type RefRecord struct {
	Name   string
	Target string
	// Contract is false for refs the git contract does not cover; they are
	// kept to notice changes.
	Contract    bool
	Observation revision.Observation
	// Problem says why a ref of the contract is not a revision.
	Problem string
}

// File is one file of a package tree.
type File struct {
	Path   string
	Mode   uint32
	BlobID string
}

// Tree is the file list of a package tree, by tree id.
type Tree struct {
	ID    string
	Files []File
	// Meta is what the tree's Kptfile says about the revision; nil when it
	// says nothing.
	Meta *revision.Meta
}

// TreeKptfile is a package tree indexed without its meta, with the
// content of its Kptfile (nil when the index holds none).
type TreeKptfile struct {
	Tree    string
	Kptfile []byte
}

// BlobPut stores one blob's content.
type BlobPut func(id string, data []byte) error

// IndexUpdate is one repository's change to the index, written in one
// transaction.
type IndexUpdate struct {
	// Full replaces everything indexed for the repository.
	Full bool
	// Refs are upserted; DeletedRefs removed.
	Refs        []RefRecord
	DeletedRefs []string
	// BranchCommit is the head of the repository branch.
	BranchCommit string
	// Branch are upserted observations of packages at the head of the
	// branch; DeletedBranch the package paths no longer there.
	Branch        []revision.Observation
	DeletedBranch []string
	// Trees are new package trees.
	Trees []Tree
	// Blobs writes the content of new blobs with put, inside the
	// transaction; it may stream them from git.
	Blobs func(put BlobPut) error
	// Packages holds, for every package whose revisions may have changed,
	// its complete set of revisions. Packages absent from the map are left
	// alone; a package mapped to nothing loses its revisions.
	Packages map[string][]revision.Revision
	// Problems replaces the problems recorded for each package it maps:
	// refs of the package that are not revisions, and why. Problems of refs
	// that name no package go under "".
	Problems map[string][]revision.Problem
	// RefsHash is a digest of all the repository's refs (see
	// reconcile.RefsHash), to tell cheaply whether anything changed since.
	RefsHash string
	// SyncedAt is when git was read.
	SyncedAt time.Time
}

// ListOptions filter and page revision lists.
type ListOptions struct {
	Namespace  string // "" for all namespaces
	Repository string
	Package    string
	Workspace  string
	Revision   string
	Lifecycle  string
	// Latest selects only (true) or no (false) latest revisions when set.
	Latest *bool
	// Labels are requirements on the labels of the revisions' Kptfiles.
	Labels []LabelRequirement
	// Name selects the revision of a name (metadata.name).
	Name string
	// Limit is the page size, 0 for all; Continue is the token returned
	// with the previous page.
	Limit    int
	Continue string
}

// Label selector operators the store filters on.
const (
	LabelIn        = "in"     // the label is one of Values
	LabelNotIn     = "notin"  // the label is absent or none of Values
	LabelExists    = "exists" // the label is set
	LabelNotExists = "!"      // the label is not set
)

// LabelRequirement is one requirement of a label selector.
type LabelRequirement struct {
	Key      string
	Operator string
	Values   []string
}

// Store is the index.
type Store interface {
	// CreateRepository registers a repository; it sets the ID and the
	// object's resource version and creation time.
	CreateRepository(ctx context.Context, r *Repository) error
	GetRepository(ctx context.Context, namespace, name string) (*Repository, error)
	ListRepositories(ctx context.Context, namespace string) ([]*Repository, error)
	// ListRepositoriesAt lists as ListRepositories does, with the store's
	// resource version of the same read: a watch from it sees every
	// change the list does not show, and none it does.
	ListRepositoriesAt(ctx context.Context, namespace string) ([]*Repository, int64, error)
	// UpdateRepository writes the object if its resource version is the
	// stored one (ErrConflict otherwise) and sets the new one.
	UpdateRepository(ctx context.Context, r *Repository) error
	// DeleteRepository removes a repository and everything indexed for it.
	DeleteRepository(ctx context.Context, namespace, name string) error

	// Refs returns the refs last indexed for a repository, with their
	// observations: all of them, or those named.
	Refs(ctx context.Context, repoID int64, names ...string) ([]RefRecord, error)
	// RefsHash returns the digest of refs stored with the last update.
	RefsHash(ctx context.Context, repoID int64) (string, error)
	// Observations returns every observation of the given packages: their
	// refs of the contract and their state at the head of the branch.
	Observations(ctx context.Context, repoID int64, packages []string) ([]revision.Observation, error)
	// BranchPackages returns the observations of all packages at the head of
	// the branch, and that head.
	BranchPackages(ctx context.Context, repoID int64) (commit string, obs []revision.Observation, err error)
	// MissingTrees and MissingBlobs return the ids the index does not hold.
	MissingTrees(ctx context.Context, ids []string) ([]string, error)
	MissingBlobs(ctx context.Context, ids []string) ([]string, error)
	// UpdateIndex applies an update in one transaction: all of it or none.
	UpdateIndex(ctx context.Context, repoID int64, u *IndexUpdate) error

	// ListRevisions lists revisions in a stable order (namespace, name).
	ListRevisions(ctx context.Context, opts ListOptions) (*RevisionList, error)
	GetRevision(ctx context.Context, namespace, name string) (*Revision, error)
	// Resources returns the files of a revision with their content.
	Resources(ctx context.Context, namespace, name string) (map[string][]byte, error)
	// TreeFiles returns the file list (paths, modes, blobs) of a package
	// tree the index holds.
	TreeFiles(ctx context.Context, tree string) ([]File, error)
	// TreesWithoutMeta returns up to limit trees indexed before their meta
	// was kept, with ids after the given one, with their Kptfiles;
	// SetTreeMeta records what those say (the revisions that change get a
	// new resource version and an event).
	TreesWithoutMeta(ctx context.Context, after string, limit int) ([]TreeKptfile, error)
	SetTreeMeta(ctx context.Context, metas map[string]revision.Meta) error

	// RecordValidations keeps the outcomes of validating package trees in
	// a repository, replacing earlier ones, in one transaction: the
	// revisions of the repository with those trees get a new resource
	// version; trees no revision of the repository has are not kept.
	// Validation returns one with its findings (ErrNotFound when none).
	RecordValidations(ctx context.Context, repoID int64, vs map[string]*Validation) error
	Validation(ctx context.Context, repoID int64, tree string) (*Validation, error)

	// UpdateRepositoryStatus changes a repository's status, whatever its
	// resource version: the status is the server's. A change of nothing
	// but lastSyncTime is kept without a new resource version or an
	// event; no change writes nothing.
	UpdateRepositoryStatus(ctx context.Context, namespace, name string, fn func(*configv1alpha1.RepositoryStatus)) error

	// Events returns the changes of revisions after a resource version, in
	// order, at most limit; ErrCompacted when changes after it are gone.
	Events(ctx context.Context, after int64, limit int) ([]Event, error)
	// FilteredEvents returns as Events does the changes of the revisions
	// a filter selects: ErrCompacted only when changes of those are gone
	// (a full reindex of a repository compacts that repository's).
	FilteredEvents(ctx context.Context, after int64, limit int, f EventFilter) ([]Event, error)
	// RepositoryEvents returns the changes of repositories after a
	// resource version as Events does those of revisions: creations,
	// updates of spec and status, deletions.
	RepositoryEvents(ctx context.Context, after int64, limit int) ([]RepositoryEvent, error)
	// ListResources reads the page ListRevisions answers for the same
	// options and calls fn with it and with a function that reads the
	// files of its i-th revision, with their content or (content false)
	// only their paths, from the same snapshot: a list of every revision's
	// resources never needs all of them in memory at once, and a count of
	// files reads no content. The snapshot lasts as long as fn: callers
	// read small pages.
	ListResources(ctx context.Context, opts ListOptions, fn func(list *RevisionList, files func(i int, content bool) (map[string][]byte, error)) error) error
	// TreeResources returns the files of a package tree the index holds,
	// with their content (ErrNotFound when it holds the tree no more).
	TreeResources(ctx context.Context, tree string) (map[string][]byte, error)
	// ResourceVersion is the store's current resource version.
	ResourceVersion(ctx context.Context) (int64, error)
	// Changed returns a channel closed at the next change.
	Changed() <-chan struct{}
	// RevisionGeneration changes whenever package revisions change: at
	// once for changes made through this Store, and within a fraction of a
	// second for changes another process made to the same database. What
	// was read of revisions in one generation stays true until it ends.
	RevisionGeneration() uint64
	// CompactEvents forgets changes older than a time.
	CompactEvents(ctx context.Context, before time.Time) error

	CreateToken(ctx context.Context, t *Token) error
	ListTokens(ctx context.Context) ([]Token, error)
	DeleteToken(ctx context.Context, name string) error
	// TokenByHash returns the token with a hash, ErrNotFound if none.
	TokenByHash(ctx context.Context, hash string) (*Token, error)

	// CreateUser stores a user with its keys: ErrExists when the name is
	// taken or any of the keys is already a user's (a key identifies
	// exactly one user), and then nothing is stored.
	CreateUser(ctx context.Context, u *User) error
	// ListUsers lists the users by name, each with its keys by fingerprint.
	ListUsers(ctx context.Context) ([]User, error)
	// DeleteUser removes a user and its keys, ErrNotFound if none.
	DeleteUser(ctx context.Context, name string) error
	// UserByKey returns the user holding the key of a fingerprint, with all
	// its keys; ErrNotFound if none.
	UserByKey(ctx context.Context, fingerprint string) (*User, error)

	// PutSecret stores sealed credentials; GetSecret returns them.
	PutSecret(ctx context.Context, namespace, name string, sealed []byte) error
	GetSecret(ctx context.Context, namespace, name string) ([]byte, error)
	DeleteSecret(ctx context.Context, namespace, name string) error
	ListSecrets(ctx context.Context) ([]SecretRef, error)

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
	// CompactDeliveries forgets deliveries processed before a time.
	CompactDeliveries(ctx context.Context, before time.Time) error

	// SetPullRequest records what a forge says of a pull or merge request
	// of a repository; OpenPullRequests returns the open ones.
	SetPullRequest(ctx context.Context, repoID int64, pr *PullRequest) error
	OpenPullRequests(ctx context.Context, repoID int64) ([]PullRequest, error)

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

	Close() error

	// ManagedFields returns the field managers recorded for an object whose
	// metadata the index does not keep (ErrNotFound when none are).
	// SetManagedFields replaces them (ErrNotFound when the object's
	// repository is not registered); DeleteManagedFields forgets those of
	// every resource of a name (a deleted revision's). An index update that
	// removes a revision forgets its managers in the same transaction.
	ManagedFields(ctx context.Context, namespace, resource, name string) (*ManagedFields, error)
	SetManagedFields(ctx context.Context, m *ManagedFields) error
	DeleteManagedFields(ctx context.Context, namespace, name string) error
}

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
	// Error says why the last attempt failed.
	Attempts int
	Done     bool
	Error    string
}

// DeliveryOutcome is the result of an attempt to process a delivery.
type DeliveryOutcome struct {
	ID     int64
	Done   bool
	Reason string
}

// SecretRef names a stored secret.
type SecretRef struct {
	Namespace, Name string
	UpdatedAt       time.Time
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
