package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/keymutex"
	"github.com/pkgserver/pkgserver/internal/result"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// Publisher publishes packages: it gives a package its next v<N> tag, the
// one rule every publication goes through, whether the API approves a
// proposal or a merged pull request is published through its forge. One
// Publisher is shared by everything that publishes in this process, so
// that the publications of one package wait for each other instead of
// racing for its next number (git, or the forge, still refuses a number
// taken by anyone else: the publication then takes the next one). The
// zero value is ready to use; a nil Publisher does not serialize.
//
// Lock order: the Writer's repository lock, then the Publisher's package
// lock, never the reverse. An approval holds its repository's lock while
// it waits for the package's; a publication holds the package's only
// while it counts and tags, never across its tagger's Refresh (a forge's
// full repository sync), so that an approval does not wait for a sync.
type Publisher struct {
	locks keymutex.Map[publishKey]
}

// publishKey is what publications serialize on: a package of a repository.
type publishKey struct {
	repo int64
	pkg  string
}

// Publication is a package to publish as its next v<N>.
type Publication struct {
	// RepoID is the repository's id in the index.
	RepoID int64
	// Package is the package's path in the git repository (its directory
	// included), as the tags name it.
	Package string
	// Workspace is the workspace the publish trailers name; "" leaves
	// the trailer out.
	Workspace string
	// PullRequest is the number of the pull request whose merge is
	// published, 0 for none: the message names it.
	PullRequest int
	// Commit is the commit to tag, for the tagger that tags an existing
	// commit (a pull request's merge commit). A v<N> of the package on it
	// already is the publication (nothing is tagged again); a v<N> on a
	// later commit, one Commit is an ancestor of, is a newer revision that
	// nothing is published over. "" when the tagger makes the commit (an
	// approval commits the proposal onto the branch).
	Commit string
	// Tries bounds the tries of the publication whose number is taken or
	// whose branch moved; 0 is maxPublishTries.
	Tries int
}

// Published is what Publish did.
type Published struct {
	// Tag is the publication's tag, <package>/v<N>; "" when nothing was
	// published.
	Tag string
	// Number is N, 0 when nothing was published.
	Number int
	// Existing is set when the commit was published before: Tag is the
	// tag found there, nothing was tagged.
	Existing bool
	// Newer, when nothing was published, is the ref of the newer revision
	// on a later commit that kept Commit from being published.
	Newer string
}

// Tagger makes the tag of a publication on one side: in the repository's
// git, or through the forge that hosts it.
type Tagger interface {
	// Tag creates the tag name (<package>/v<N>) with the message. When the
	// number is taken, or something the tag depends on moved meanwhile (the
	// branch a publication commit is made on), it returns an error that
	// is ErrConflict (errors.Is): the publication is tried again.
	Tag(ctx context.Context, name, message string) error
	// Refresh brings what the tags are read from up to date before
	// another try; an error ends the publication with it.
	Refresh(ctx context.Context) error
}

// maxPublishTries bounds the tries of a publication whose number was
// taken or whose branch moved, unless it says otherwise (Tries).
const maxPublishTries = 5

// Publish publishes a package as its next v<N>, N counted from the
// package's tags in g (revision.NextRevision), and t tags it, with the
// publish message (PublishMessage). A number taken meanwhile, or a branch
// that moved, makes it count again after t's Refresh, up to pub.Tries
// times in all (maxPublishTries when 0); the last conflict is returned.
// The package's lock is let go during Refresh: git, or the forge, refuses
// a number taken meanwhile, which the next try counts past.
func (p *Publisher) Publish(ctx context.Context, g *gitrepo.Repo, pub Publication, t Tagger) (Published, error) {
	tries := pub.Tries
	if tries <= 0 {
		tries = maxPublishTries
	}
	unlock := p.lock(pub)
	defer func() { unlock() }()
	for try := 1; ; try++ {
		out, n, err := next(ctx, g, pub)
		if err != nil || n == 0 {
			return out, err
		}
		tag := pub.Package + "/" + revision.FormatRevision(n)
		err = t.Tag(ctx, tag, PublishMessage(pub.Package, pub.Workspace, n, pub.PullRequest))
		if err == nil {
			return Published{Tag: tag, Number: n}, nil
		}
		if !errors.Is(err, ErrConflict) || try >= tries {
			return Published{}, err
		}
		unlock()
		unlock = func() {}
		if err := t.Refresh(ctx); err != nil {
			return Published{}, err
		}
		unlock = p.lock(pub)
	}
}

// lock takes the publication's package lock and returns its unlock; a nil
// Publisher takes none.
func (p *Publisher) lock(pub Publication) func() {
	if p == nil {
		return func() {}
	}
	return p.locks.Lock(publishKey{repo: pub.RepoID, pkg: pub.Package})
}

// next reads the package's v<N> tags in g and returns the number the
// publication takes, or 0 with the outcome when its commit is published
// already or a newer revision exists.
func next(ctx context.Context, g *gitrepo.Repo, pub Publication) (Published, int, error) {
	prefix := revision.TagsPrefix + pub.Package + "/"
	refs, err := g.RefsUnder(ctx, prefix)
	if err != nil {
		return Published{}, 0, err
	}
	var tags []gitrepo.Ref
	var numbers []int
	for _, t := range refs {
		n := revision.ParseRevisionNumber(strings.TrimPrefix(t.Name, prefix))
		if n == 0 {
			continue
		}
		if pub.Commit != "" && t.Commit == pub.Commit {
			return Published{Tag: strings.TrimPrefix(t.Name, revision.TagsPrefix), Number: n, Existing: true}, 0, nil
		}
		tags, numbers = append(tags, t), append(numbers, n)
	}
	if pub.Commit != "" {
		for _, t := range tags {
			// A revision published on a later commit (by hand, or from
			// another pull request) is newer: the commit is not published
			// over it.
			if later, err := g.IsAncestor(ctx, pub.Commit, t.Commit); err != nil {
				return Published{}, 0, err
			} else if later {
				return Published{Newer: t.Name}, 0, nil
			}
		}
	}
	return Published{}, revision.NextRevision(numbers), nil
}

// PublishMessage is the message of publication n of a package (the
// publication commit's or the tag's): its title, then the publish
// trailers, with the workspace when there is one and the pull request
// when there is one.
func PublishMessage(full, workspace string, n, pullRequest int) string {
	rev := revision.FormatRevision(n)
	msg := fmt.Sprintf("Publish %s %s\n\n", full, rev)
	if pullRequest > 0 {
		msg = fmt.Sprintf("Publish %s %s from pull request #%d\n\n", full, rev, pullRequest)
	}
	if workspace != "" {
		msg += revision.PublishTrailers(full, workspace, n)
	} else {
		msg += revision.TrailerPackage + ": " + full + "\n" + revision.TrailerRevision + ": " + rev + "\n"
	}
	if pullRequest > 0 {
		msg += fmt.Sprintf("%s: %d\n", revision.TrailerPullRequest, pullRequest)
	}
	return msg
}

// publish makes a proposal the next v<N>: one transaction moves the
// repository branch to a commit whose tree has the package directory of
// the proposal (the proposal's commit its second parent, the publish
// trailers in its message), creates the tag, and deletes the proposal's
// branch. When the branch moved meanwhile, or the number was taken, it is
// done again on what git holds now; the proposal is never lost.
func (w *Writer) publish(ctx context.Context, r *store.Revision, by Author) (*store.Revision, []result.Result, error) {
	o, done, err := w.begin(ctx, r.Namespace, r.Repository, by)
	if err != nil {
		return nil, nil, err
	}
	defer done()
	if r.Ref != proposedRef(o.cfg, r.Package, r.Workspace) {
		return nil, nil, invalid("%s is proposed by a pull request (%s): merge the request to publish it", r.Name, r.Ref)
	}
	full := o.cfg.Full(r.Package)
	if err := o.readinessGates(r.Commit, full); err != nil {
		return nil, nil, err
	}
	t := &branchTagger{o: o, r: r, full: full}
	pub, err := w.Publisher.Publish(ctx, o.git, Publication{RepoID: o.repo.ID, Package: full, Workspace: r.Workspace}, t)
	if err != nil {
		return nil, nil, err
	}
	o.recordValidation(r.Tree, t.warnings)
	nr, err := o.written(r.Name, r, revision.TagsPrefix+pub.Tag, t.commit, true, t.warnings)
	return nr, t.warnings, err
}

// branchTagger tags an approved proposal in the repository's git: the tag
// is on a commit of the proposal's package onto the branch's head, made
// and validated for each try, and one ref transaction moves the branch,
// creates the tag and deletes the proposal's branch.
type branchTagger struct {
	o    *op
	r    *store.Revision
	full string
	try  int
	// commit and warnings are the publication's, once tagged.
	commit   string
	warnings []result.Result
}

func (t *branchTagger) Tag(_ context.Context, name, message string) error {
	o := t.o
	t.try++
	tip, err := o.branchTip()
	if err != nil {
		return err
	}
	var parents []string
	if tip != "" {
		parents = append(parents, tip)
	}
	commit, err := o.commitPackage(tip, append(parents, t.r.Commit), t.full, t.r.Tree, message)
	if err != nil {
		return err
	}
	warnings, err := o.validate(tip, commit, t.full, "not published")
	if err != nil {
		return err
	}
	if o.w.beforePublish != nil {
		o.w.beforePublish(t.try)
	}
	err = o.apply([]revision.RefUpdate{
		{Ref: o.cfg.RefName(revision.Source{Kind: revision.KindBranch}), Old: tip, New: commit},
		{Ref: revision.TagsPrefix + name, New: commit},
		{Ref: t.r.Ref, Old: t.r.Commit},
	})
	if err != nil {
		return err
	}
	t.commit, t.warnings = commit, warnings
	return nil
}

// Refresh goes on with what git holds now (a remote repository's apply
// fetched it), if the proposal is still what was approved.
func (t *branchTagger) Refresh(context.Context) error {
	if at, err := t.o.refAt(t.r.Ref); err != nil || at != t.r.Commit {
		return conflict("the proposal %s changed while it was approved", t.r.Name)
	}
	return nil
}
