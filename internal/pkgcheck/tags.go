package pkgcheck

import (
	"context"
	"slices"
	"strings"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/revision"
)

// BulkTagLookups is how many packages' tags Tags lists one package at a
// time; past it, every tag of the repository is listed once (a check of
// many packages would otherwise start a git process per package).
const BulkTagLookups = 8

// Tags lists the tags below packages' paths for one check, keeping what it
// listed.
type Tags struct {
	ctx  context.Context
	repo *gitrepo.Repo
	// cache holds the tags below packages' paths by <full>, listed one
	// package at a time (lookups of them) until every is.
	cache   map[string][]gitrepo.Ref
	lookups int
	// every lists every tag of the repository, sorted, once a check
	// names many packages (nil until then).
	every []gitrepo.Ref
}

// NewTags returns the tag listings of one check of a repository.
func NewTags(ctx context.Context, repo *gitrepo.Repo) *Tags {
	return &Tags{ctx: ctx, repo: repo, cache: map[string][]gitrepo.Ref{}}
}

// Of returns the tags of a package, refs/tags/<full>/<name>.
func (t *Tags) Of(full string) ([]gitrepo.Ref, error) {
	refs, err := t.Under(full, false)
	if err != nil {
		return nil, err
	}
	prefix := revision.TagsPrefix + full + "/"
	var direct []gitrepo.Ref
	for _, r := range refs {
		if !strings.Contains(strings.TrimPrefix(r.Name, prefix), "/") {
			direct = append(direct, r)
		}
	}
	return direct, nil
}

// Under returns the tags below a package's path, refs/tags/<full>/…:
// listed for the package alone for the first few packages asked about
// (unless many are), then taken from the one sorted listing of every tag.
func (t *Tags) Under(full string, many bool) ([]gitrepo.Ref, error) {
	if refs, ok := t.Listed(full); ok {
		return refs, nil
	}
	prefix := revision.TagsPrefix + full + "/"
	if !many {
		if t.lookups < BulkTagLookups {
			t.lookups++
			refs, err := t.repo.RefsUnder(t.ctx, prefix)
			if err != nil {
				return nil, err
			}
			t.cache[full] = refs
			return refs, nil
		}
	}
	if _, err := t.All(); err != nil {
		return nil, err
	}
	refs, _ := t.Listed(full)
	return refs, nil
}

// Listed returns the tags below a package's path if they are listed
// already (ok false: not yet).
func (t *Tags) Listed(full string) (refs []gitrepo.Ref, ok bool) {
	if t.every == nil {
		refs, ok = t.cache[full]
		return refs, ok
	}
	prefix := revision.TagsPrefix + full + "/"
	i, _ := slices.BinarySearchFunc(t.every, prefix, func(r gitrepo.Ref, p string) int { return strings.Compare(r.Name, p) })
	j := i
	for j < len(t.every) && strings.HasPrefix(t.every[j].Name, prefix) {
		j++
	}
	return t.every[i:j], true
}

// All lists every tag of the repository, sorted by name, once.
func (t *Tags) All() ([]gitrepo.Ref, error) {
	if t.every == nil {
		all, err := t.repo.RefsUnder(t.ctx, revision.TagsPrefix)
		if err != nil {
			return nil, err
		}
		slices.SortFunc(all, func(a, b gitrepo.Ref) int { return strings.Compare(a.Name, b.Name) })
		t.every = append(all, gitrepo.Ref{})[:len(all)] // not nil: listed
	}
	return t.every, nil
}
