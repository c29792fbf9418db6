// Package lifecycle writes package revisions: it turns the API's writes
// (create, edit, propose, approve, reject, propose deletion, delete) into
// git commits and ref transactions under the git contract, then indexes
// what it wrote. Every ref change names the value it expects to replace,
// so a concurrent writer makes the later one fail with ErrConflict and
// never leaves a broken package.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/keymutex"
	"github.com/pkgserver/pkgserver/internal/pkgcheck"
	"github.com/pkgserver/pkgserver/internal/reconcile"
	"github.com/pkgserver/pkgserver/internal/render"
	"github.com/pkgserver/pkgserver/internal/result"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// Errors of writes; the API answers them 409, 422 and 404.
var (
	ErrConflict = errors.New("conflict")
)

// Invalid is a write refused for what it asks: a transition the lifecycle
// does not allow, a name in use, files that fail validation.
type Invalid struct {
	Message string
	Results []result.Result
}

func (e *Invalid) Error() string { return e.Message }

func invalid(format string, args ...any) error {
	return &Invalid{Message: fmt.Sprintf(format, args...)}
}

// Conflict says what changed under a write.
func conflict(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrConflict, fmt.Sprintf(format, args...))
}

// Indexer indexes the refs a write changed before the write answers, and
// syncs a remote repository whose refs moved under a write.
type Indexer interface {
	Apply(ctx context.Context, namespace, name string, updates []revision.RefUpdate) error
	SyncNow(ctx context.Context, namespace, name string) error
}

// Writer writes package revisions.
type Writer struct {
	Store Store
	// Git opens the git repository to write a repository's revisions
	// into, with the push that publishes ref updates to its remote (nil:
	// the repository is updated in place).
	Git   func(ctx context.Context, repo *store.Repository) (*gitrepo.Repo, func(context.Context, []revision.RefUpdate) error, error)
	Index Indexer
	// Locks, when set, serialize the writes of a repository across the
	// processes sharing the index (replicas), besides this process's own.
	Locks store.RepositoryLocks
	// Packages validates the packages a write makes, as a push's are.
	Packages *pkgcheck.Service
	Now      func() time.Time
	// Log receives what goes wrong after a write is done (nil: discarded).
	Log *slog.Logger
	// RepoURL is the URL a repository is cloned from, recorded as the
	// upstream of packages cloned from it; default spec.git.url.
	RepoURL func(repo *store.Repository) string
	// Publisher publishes approved proposals; the one the webhooks'
	// processor shares, so that publications of a package wait for each
	// other (nil: they do not, though the writes of a repository do).
	Publisher *Publisher
	// Render is how the packages of writes render: whether exec
	// functions may run, and for how long.
	Render render.Options
	// Rendered, when set, is told how long each render of a write took
	// and whether it succeeded (the server's render duration metric).
	Rendered func(took time.Duration, ok bool)

	locks keymutex.Map[int64]
	// dryRun makes every write a dry run (see DryRun).
	dryRun bool
	// beforePublish, in tests, runs before each publish transaction.
	beforePublish func(try int)
}

// lock serializes the writes of one repository in this process (git's ref
// transactions still guard against every other writer).
func (w *Writer) lock(id int64) func() { return w.locks.Lock(id) }

// Author is who asks for a write: the commits name them.
type Author struct {
	Name, Email string
}

// upstreamURL is the URL a clone records as its upstream: without
// credentials, which the package's readers must not see.
func (w *Writer) upstreamURL(repo *store.Repository) string {
	url := repo.Object.Spec.Git.URL
	if w.RepoURL != nil {
		url = w.RepoURL(repo)
	}
	return gitrepo.SanitizeURL(url)
}

func (w *Writer) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

// op is one write to one repository.
type op struct {
	w    *Writer
	ctx  context.Context
	repo *store.Repository
	cfg  revision.Config
	git  *gitrepo.Repo
	// push publishes ref updates to a remote repository; nil in place.
	push func(context.Context, []revision.RefUpdate) error
	b    *gitrepo.Batch
	ow   *gitrepo.ObjectWriter
	by   Author
	// rendered is set once the write rendered its package with success:
	// what it commits is rendered, and validation need not check it.
	rendered bool
	// dry is set for a dry run: objects go to a scratch store, refs and
	// the index are not written.
	dry bool
}

func (w *Writer) begin(ctx context.Context, ns, repoName string, by Author) (*op, func(), error) {
	repo, err := w.Store.GetRepository(ctx, ns, repoName)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, invalid("repository %q not found in namespace %s", repoName, ns)
		}
		return nil, nil, err
	}
	// A dry run writes nothing that other writes could see: it need not
	// wait for them, nor they for it.
	unlock := func() {}
	if !w.dryRun {
		unlock = w.lock(repo.ID)
		if w.Locks != nil {
			release, err := w.Locks.LockRepository(ctx, repo.ID)
			if err != nil {
				unlock()
				return nil, nil, err
			}
			inProcess := unlock
			unlock = func() { release(); inProcess() }
		}
	}
	g, push, err := w.Git(ctx, repo)
	if err != nil {
		unlock()
		if errors.Is(err, reconcile.ErrNotWritable) {
			return nil, nil, invalid("%v", err)
		}
		return nil, nil, err
	}
	ow, closeScratch := g.NewObjectWriter(), func() {}
	if w.dryRun {
		sc, err := g.NewScratch()
		if err != nil {
			unlock()
			return nil, nil, err
		}
		g, ow, push = sc.Repo, sc.ObjectWriter(), nil
		closeScratch = func() {
			if err := sc.Close(); err != nil && w.Log != nil {
				w.Log.Warn("remove the scratch object store of a dry run", "err", err)
			}
		}
	}
	b, err := g.NewBatch(ctx)
	if err != nil {
		closeScratch()
		unlock()
		return nil, nil, err
	}
	o := &op{w: w, ctx: ctx, repo: repo, cfg: repo.Config().Normalize(), git: g, push: push, b: b, ow: ow, by: by, dry: w.dryRun}
	return o, func() { b.Close(); closeScratch(); unlock() }, nil
}

func (o *op) signature() gitrepo.Signature {
	name, email := o.by.Name, o.by.Email
	if name == "" {
		name = "pkgserver"
	}
	if email == "" {
		email = name + "@pkgserver.invalid"
	}
	return gitrepo.Signature{Name: name, Email: email, When: o.w.now()}
}

// branchTip returns the repository branch's commit, "" when it has none.
func (o *op) branchTip() (string, error) {
	refs, err := o.git.RefsNamed(o.ctx, revision.BranchesPrefix+o.cfg.Branch)
	if err != nil || len(refs) == 0 {
		return "", err
	}
	return refs[0].Commit, nil
}

// rootTree returns a commit's root tree, "" for no commit.
func (o *op) rootTree(commit string) (string, error) {
	if commit == "" {
		return "", nil
	}
	return o.b.TreeID(commit, "")
}

// commitPackage writes a commit on parents whose tree is base's with the
// package directory replaced by tree.
func (o *op) commitPackage(base string, parents []string, full, tree, message string) (string, error) {
	root, err := o.rootTree(base)
	if err != nil {
		return "", err
	}
	newRoot, err := o.ow.ReplaceTree(o.b, root, full, tree)
	if errors.Is(err, gitrepo.ErrPathTaken) {
		return "", invalid("%s: %v", full, err)
	}
	if err != nil {
		return "", err
	}
	sig := o.signature()
	return o.ow.Commit(gitrepo.CommitData{Tree: newRoot, Parents: parents, Author: sig, Committer: sig, Message: message})
}

// validate validates a package as a commit holds it: errors refuse the
// write, with the findings.
func (o *op) validate(tip, commit, full, what string) ([]result.Result, error) {
	rules := pkgcheck.RulesOf(o.repo)
	rules.Rendered = o.rendered
	dec, err := o.w.Packages.For(rules).ValidateWith(o.ctx, o.git, o.b, tip, commit, []string{full})
	if err != nil {
		return nil, err
	}
	if !dec.Accept {
		errs := 0
		for _, r := range dec.Results {
			if r.Severity == result.Error {
				errs++
			}
		}
		return nil, &Invalid{Message: fmt.Sprintf("%s: %d validation error(s) in package %s", what, errs, full), Results: dec.Results}
	}
	return dec.Results, nil
}

// recordValidation keeps the outcome of the validation that let a write
// through, for the revision's validated condition.
// The write is done: if this fails, the condition stays as it was, which
// is no reason to answer the write with an error.
func (o *op) recordValidation(tree string, results []result.Result) {
	if o.dry {
		return
	}
	v := pkgcheck.NewValidation(results, o.w.now())
	if err := o.w.Store.RecordValidations(o.ctx, o.repo.ID, map[string]*store.Validation{tree: v}); err != nil && o.w.Log != nil {
		o.w.Log.Warn("record the validation of a write", "repo", o.repo.Object.Namespace+"/"+o.repo.Object.Name, "tree", tree, "err", err)
	}
}

// apply runs a ref transaction and indexes it; a ref not at its expected
// value is ErrConflict. A dry run only checks the refs against the
// repository's (a remote repository's against its mirror, as last
// fetched).
func (o *op) apply(updates []revision.RefUpdate) error {
	update := o.git.UpdateRefs
	if o.push != nil {
		update = o.push
	}
	if o.dry {
		update = o.git.CheckRefs
	}
	if err := update(o.ctx, updates); err != nil {
		if o.push != nil {
			// Whatever the remote did, fetch it: a retry (or the client's
			// next attempt) starts from what it holds, and the index agrees.
			// A failed fetch is the next sync's to repair.
			_ = o.w.Index.SyncNow(o.ctx, o.repo.Object.Namespace, o.repo.Object.Name)
		}
		switch {
		case errors.Is(err, gitrepo.ErrRefConflict):
			return conflict("%v", err)
		case errors.Is(err, gitrepo.ErrRefCollision), errors.Is(err, gitrepo.ErrPushRefused):
			return invalid("%v", err)
		}
		return err
	}
	if o.dry {
		return nil
	}
	return o.w.Index.Apply(context.WithoutCancel(o.ctx), o.repo.Object.Namespace, o.repo.Object.Name, updates)
}

// revision reads a revision and checks the resource version the writer
// read, when given.
func (w *Writer) revision(ctx context.Context, ns, name string, rv int64) (*store.Revision, error) {
	r, err := w.Store.GetRevision(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	if rv != 0 && rv != r.ResourceVersion {
		return nil, conflict("the object has been modified; please apply your changes to the latest version and try again")
	}
	return r, nil
}

func draftRef(cfg revision.Config, pkg, ws string) string {
	return cfg.RefName(revision.Source{Kind: revision.KindDraft, Package: pkg, Workspace: ws})
}

func proposedRef(cfg revision.Config, pkg, ws string) string {
	return cfg.RefName(revision.Source{Kind: revision.KindProposed, Package: pkg, Workspace: ws})
}

// ValidPackagePath checks a package path: RFC 1123 labels joined by "/".
func ValidPackagePath(p string) error {
	if p == "" {
		return errors.New("the package name is empty")
	}
	for _, seg := range strings.Split(p, "/") {
		if !revision.IsLabel(seg) {
			return fmt.Errorf("package path segment %q is not an RFC 1123 label", seg)
		}
	}
	return nil
}

// allowed lists the transitions from a lifecycle, for refusals (the table
// of the lifecycle rules).
func allowed(from revision.Lifecycle) string {
	switch from {
	case revision.Draft:
		return "a Draft can be proposed (update to Proposed) or deleted"
	case revision.Proposed:
		return "a Proposed revision can be approved (approval to Published), rejected (approval to Draft), or deleted"
	case revision.Published:
		return "a Published revision is immutable: its deletion can be proposed (approval to DeletionProposed)"
	case revision.DeletionProposed:
		return "a DeletionProposed revision's deletion can be approved (delete) or rejected (approval to Published)"
	}
	return "nothing can be changed"
}

// refAt reads where a ref is, "" if it does not exist.
func (o *op) refAt(name string) (string, error) {
	refs, err := o.git.RefsNamed(o.ctx, name)
	if err != nil || len(refs) == 0 {
		return "", err
	}
	return refs[0].Target, nil
}

// modes returns the modes of a tree's files that are not plain files
// (executables, symbolic links).
func (w *Writer) modes(ctx context.Context, tree string) (map[string]uint32, error) {
	files, err := w.Store.TreeFiles(ctx, tree)
	if err != nil {
		return nil, err
	}
	out := map[string]uint32{}
	for _, f := range files {
		if f.Mode != gitrepo.ModeFile {
			out[f.Path] = f.Mode
		}
	}
	return out, nil
}

// fileList orders files for BuildTree, with the given modes.
func fileList(files map[string][]byte, modes map[string]uint32) []gitrepo.File {
	list := make([]gitrepo.File, 0, len(files))
	for _, p := range slices.Sorted(maps.Keys(files)) {
		list = append(list, gitrepo.File{Path: p, Data: files[p], Mode: modes[p]})
	}
	return list
}
