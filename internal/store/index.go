package store

import (
	"context"
	"time"

	"github.com/pkgserver/pkgserver/internal/revision"
)

// RevisionList is a page of revisions.
type RevisionList struct {
	Items []Revision
	// Continue is the token of the next page, "" after the last.
	Continue string
	// ResourceVersion is the store's resource version when the page was
	// read: a watch from it sees every later change.
	ResourceVersion int64
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
	// Validations.Validation, not with revisions.
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

// Index is what clients read of the package revisions the index derived
// from git: lists, single revisions and their files. The API, the
// lifecycle writer and the webhooks read it.
type Index interface {
	// ListRevisions lists revisions in a stable order (namespace, name).
	ListRevisions(ctx context.Context, opts ListOptions) (*RevisionList, error)
	GetRevision(ctx context.Context, namespace, name string) (*Revision, error)
	// Resources returns the files of a revision with their content.
	Resources(ctx context.Context, namespace, name string) (map[string][]byte, error)
	// TreeFiles returns the file list (paths, modes, blobs) of a package
	// tree the index holds.
	TreeFiles(ctx context.Context, tree string) ([]File, error)

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
}

// IndexWriter is the reconciler's side of the index: its record of git
// (refs, observations of packages, which trees and blobs it holds), the
// update that applies a pass over git in one transaction, and the backfill
// of what Kptfiles of trees indexed before say.
type IndexWriter interface {
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

	// TreesWithoutMeta returns up to limit trees indexed before their meta
	// was kept, with ids after the given one, with their Kptfiles;
	// SetTreeMeta records what those say (the revisions that change get a
	// new resource version and an event).
	TreesWithoutMeta(ctx context.Context, after string, limit int) ([]TreeKptfile, error)
	SetTreeMeta(ctx context.Context, metas map[string]revision.Meta) error
}

// Validations keeps the outcomes of validating package trees in a
// repository: pushes, API writes and webhooks record them; the API reads
// their findings.
type Validations interface {
	// RecordValidations keeps the outcomes of validating package trees in
	// a repository, replacing earlier ones, in one transaction: the
	// revisions of the repository with those trees get a new resource
	// version; trees no revision of the repository has are not kept.
	// Validation returns one with its findings (ErrNotFound when none).
	RecordValidations(ctx context.Context, repoID int64, vs map[string]*Validation) error
	Validation(ctx context.Context, repoID int64, tree string) (*Validation, error)
}
