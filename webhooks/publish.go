package webhooks

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/lifecycle"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// tagPackage publishes a package on the merge commit of a pull request:
// the next v<N> tag, created through the forge, with publish trailers
// naming the workspace and the pull request (lifecycle.Publisher's rule);
// it returns the tag's name. A tag of the package on the merge commit
// already is kept (the delivery was processed before); a newer revision on
// a later commit leaves the package unpublished ("").
func (p *Processor) tagPackage(ctx context.Context, repo *store.Repository, g *gitrepo.Repo, f Forge, pr *PullRequest, full string) (string, error) {
	ns, name := repo.Object.Namespace, repo.Object.Name
	workspace, err := p.mergedWorkspace(ctx, repo, pr, full)
	if err != nil {
		return "", err
	}
	t := &forgeTagger{forge: f, commit: pr.MergeCommit, sync: func(ctx context.Context) error { return p.Syncer.SyncNow(ctx, ns, name) }}
	pub, err := p.Publisher.Publish(ctx, g, mergePublication(repo.ID, full, workspace, pr), t)
	switch {
	case err != nil:
		return "", err
	case pub.Newer != "":
		p.Log.Info("not published: a newer revision exists", "repo", ns+"/"+name, "tag", pub.Newer, "pull_request", pr.Number)
	case !pub.Existing:
		p.Log.Info("published from a pull request", "repo", ns+"/"+name, "tag", pub.Tag, "pull_request", pr.Number)
	}
	return pub.Tag, nil
}

// mergedWorkspace is the workspace of the revision a pull request
// proposed: a draft's or proposal's, else the label of the branch's name;
// "" when the branch's name gives none.
func (p *Processor) mergedWorkspace(ctx context.Context, repo *store.Repository, pr *PullRequest, full string) (string, error) {
	cfg := repo.Config()
	source := revision.BranchesPrefix + pr.SourceBranch
	workspace := ""
	if _, contract, _ := cfg.ParseRef(source); !contract {
		workspace = revision.LabelFrom(pr.SourceBranch)
	}
	for _, prefix := range []string{revision.DraftsPrefix, revision.ProposedPrefix} {
		if rest, ok := strings.CutPrefix(source, prefix+full+"/"); ok && revision.IsLabel(rest) {
			workspace = rest
		}
	}
	if workspace == "" {
		return "", nil
	}
	// Workspace names are unique per package: a branch name used again (a
	// bot's, a draft's after its merge) gets the request's number.
	pkg := full
	if d := cfg.Normalize().Directory; d != "" {
		pkg = strings.TrimPrefix(full, d+"/")
	}
	r, err := p.Store.GetRevision(ctx, repo.Object.Namespace, revision.ObjectName(cfg.Repository, pkg, workspace))
	switch {
	case err == nil && r.Number > 0:
		workspace = revision.LabelFrom(fmt.Sprintf("%s-pr%d", strings.TrimSuffix(workspace[:min(len(workspace), 50)], "-"), pr.Number))
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return "", err
	}
	return workspace, nil
}

// mergeTries bounds the tries of a merged pull request's publication
// whose number the forge says is taken: each costs a repository sync.
const mergeTries = 3

// mergePublication is the publication of a package of a merged pull
// request, on its merge commit.
func mergePublication(repoID int64, full, workspace string, pr *PullRequest) lifecycle.Publication {
	return lifecycle.Publication{RepoID: repoID, Package: full, Workspace: workspace,
		PullRequest: pr.Number, Commit: pr.MergeCommit, Tries: mergeTries}
}

// forgeTagger tags a merge commit through the forge (GitHub's or
// GitLab's API); the repository's copy is synced before another try.
type forgeTagger struct {
	forge  Forge
	commit string
	sync   func(context.Context) error
}

func (t *forgeTagger) Tag(ctx context.Context, name, message string) error {
	err := t.forge.CreateTag(ctx, name, t.commit, message)
	if errors.Is(err, ErrTagExists) {
		return tagTaken{err} // another publisher took the number
	}
	return err
}

// Refresh fetches the tag that took the number, to count again.
func (t *forgeTagger) Refresh(ctx context.Context) error { return t.sync(ctx) }

// tagTaken is ErrTagExists as lifecycle's conflict, which the publication
// tries again; it reads as the forge's error.
type tagTaken struct{ error }

func (tagTaken) Is(target error) bool { return target == lifecycle.ErrConflict }

func (e tagTaken) Unwrap() error { return e.error }
