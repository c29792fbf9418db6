package hooks

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/pkgcheck"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

type tagUpdate struct {
	revision.RefUpdate
	src              revision.Source
	deletionProposal bool
}

// tags handles published tags and deletion proposals: tags never move and
// are deleted only by admins; a new v<N> takes exactly the next N, sits on
// the repository branch and holds a valid package; a deletion proposal
// names a published revision.
func (k *check) tags(updates []tagUpdate) error {
	created := map[string][]tagUpdate{} // new v<N> tags by package
	// Admins may delete, move and name tags below a revision-like segment;
	// nobody may create a package tag the index would never count.
	admin := k.push.Role == store.RoleAdmin
	for _, t := range updates {
		full := k.cfg.Full(t.src.Package)
		switch {
		case t.deletionProposal:
			if t.New == revision.ZeroID {
				continue
			}
			tag := revision.TagsPrefix + full + "/" + t.src.Revision
			exists, err := k.tagExists(tag, updates)
			if err != nil {
				return err
			}
			if !exists {
				k.refuse(t.Ref, "proposes deleting %s/%s, which is not published", full, t.src.Revision)
			}
		case t.New != revision.ZeroID && !admin && revisionLikeSegment(t.src.Package):
			// refs/tags/p/v2/x would keep p/v2 from ever being published.
			k.refuse(t.Ref, "a tag's package path must not have a segment like a revision (v<N>)")
		case t.New != revision.ZeroID && revision.LooksLikeRevision(t.src.Revision) && k.isPackageTag(t):
			// It would be listed as a revision and never counted. Where
			// the path names no package (release/V3) it is no revision
			// at all, and left alone below.
			k.refuse(t.Ref, "a package tag's revision is v<N>, N a positive integer without leading zeros, not %q", t.src.Revision)
		case t.src.Number == 0 && !k.isPackageTag(t):
			// A tag with a slash that names no package (release/2024-01):
			// not a revision, not pkgserver's to judge.
		case t.New == revision.ZeroID:
			if !admin {
				k.refuse(t.Ref, "published revisions are deleted only by admins, by approving a deletion proposal")
			}
		case t.Old != revision.ZeroID:
			if !admin {
				k.refuse(t.Ref, "published revisions are immutable: the tag cannot be moved")
				continue
			}
			k.notes = append(k.notes, fmt.Sprintf("pkgserver: warning: %s moved by an admin", t.Ref))
			if err := k.taggedPackage(t, 0); err != nil {
				return err
			}
		case t.src.Number == 0:
			// A tag of another shape (v1.2.0, latest): listed, never
			// counted; its package is validated.
			if err := k.taggedPackage(t, 0); err != nil {
				return err
			}
		default:
			created[full] = append(created[full], t)
		}
	}
	for _, full := range slices.Sorted(maps.Keys(created)) {
		ts := created[full]
		sort.Slice(ts, func(i, j int) bool { return ts[i].src.Number < ts[j].src.Number })
		existing, err := k.tagList.Of(full)
		if err != nil {
			return err
		}
		var nums []int
		for _, r := range existing {
			if rest := strings.TrimPrefix(r.Name, revision.TagsPrefix+full+"/"); !strings.Contains(rest, "/") {
				if n := revision.ParseRevisionNumber(rest); n > 0 {
					nums = append(nums, n)
				}
			}
		}
		next := revision.NextRevision(nums)
		below, err := k.tagList.Under(full, len(created) > pkgcheck.BulkTagLookups)
		if err != nil {
			return err
		}
		// Only refs deeper than a tag of the package can be below one.
		below = slices.DeleteFunc(slices.Clone(below), func(r gitrepo.Ref) bool {
			return !strings.Contains(strings.TrimPrefix(r.Name, revision.TagsPrefix+full+"/"), "/")
		})
		for _, t := range ts {
			if i := slices.IndexFunc(below, func(r gitrepo.Ref) bool { return strings.HasPrefix(r.Name, t.Ref+"/") }); i >= 0 {
				k.refuse(t.Ref, "the ref %s exists below it: an admin must delete it first", below[i].Name)
				continue
			}
			if t.src.Number != next {
				k.refuse(t.Ref, "the next revision of %s is v%d, not v%d", full, next, t.src.Number)
				continue
			}
			if err := k.taggedPackage(t, next-1); err != nil {
				return err
			}
			next++
		}
	}
	return nil
}

// taggedPackage checks what a tag points at: a commit of the repository
// branch holding the package, which is then validated. prevN is the
// revision whose resources policies see as old ones (0: the latest).
func (k *check) taggedPackage(t tagUpdate, prevN int) error {
	full := k.cfg.Full(t.src.Package)
	commit, err := k.peel(t.New)
	if err != nil {
		k.refuse(t.Ref, "%v", err)
		return nil
	}
	if k.branchTip == "" {
		k.refuse(t.Ref, "the repository branch %s does not exist", k.cfg.Branch)
		return nil
	}
	on, err := k.onBranch(commit)
	if err != nil {
		return err
	}
	if !on {
		k.refuse(t.Ref, "a published revision is a commit of the repository branch %s; push the commit to %s first (or with the tag)", k.cfg.Branch, k.cfg.Branch)
		return nil
	}
	tree, err := k.packageTree(commit, full)
	if err != nil {
		return err
	}
	if tree == "" {
		k.refuse(t.Ref, "the tagged commit has no package %s (no %s/Kptfile)", full, full)
		return nil
	}
	prev, ok := k.pushedTags[full+"/"+revision.FormatRevision(prevN)]
	if !ok {
		if prev, err = k.latestPublished(full, prevN); err != nil {
			return err
		}
	}
	if t.Old == revision.ZeroID && t.src.Number > 0 {
		k.pushedTags[full+"/"+t.src.Revision] = tree
	}
	k.addPackage(full, tree, t.Ref, prev)
	return nil
}

// isPackageTag tells whether a tag of another shape than v<N> names a
// package: its old or its new commit holds <full>/Kptfile.
func (k *check) isPackageTag(t tagUpdate) bool {
	full := k.cfg.Full(t.src.Package)
	for _, id := range []string{t.Old, t.New} {
		if id == revision.ZeroID {
			continue
		}
		commit, err := k.peel(id)
		if err != nil {
			continue
		}
		if tree, err := k.packageTree(commit, full); err == nil && tree != "" {
			return true // it names a package before or after: the rules hold
		}
	}
	return false
}

// revisionLikeSegment tells whether a package path has a segment v<N>.
func revisionLikeSegment(pkg string) bool {
	for _, seg := range strings.Split(pkg, "/") {
		if revision.ParseRevisionNumber(seg) > 0 {
			return true
		}
	}
	return false
}

// peel returns the commit an object leads to, through annotated tags.
func (k *check) peel(id string) (string, error) {
	if err := k.readObjects([]string{id}); err != nil {
		return "", err
	}
	p, ok := k.objs.peeled[id]
	if !ok {
		return "", fmt.Errorf("object %s: %w", id, gitrepo.ErrObjectNotFound)
	}
	return p.commit, p.err
}

// tagExists tells whether a tag exists, or is created by this push.
func (k *check) tagExists(tag string, updates []tagUpdate) (bool, error) {
	for _, t := range updates {
		if t.Ref == tag {
			return t.New != revision.ZeroID, nil
		}
	}
	_, err := k.batch.Info(tag)
	if errors.Is(err, gitrepo.ErrObjectNotFound) {
		return false, nil
	}
	return err == nil, err
}
