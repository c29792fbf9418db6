package hooks

import (
	"errors"
	"strings"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/pkgcheck"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// otherRef handles refs outside the git contract: other branches have the
// packages they change validated; other refs pass.
func (k *check) otherRef(u revision.RefUpdate) error {
	if !strings.HasPrefix(u.Ref, revision.BranchesPrefix) || u.New == revision.ZeroID {
		return nil
	}
	base := u.Old
	if base == revision.ZeroID {
		base = ""
		if k.branchTip != "" {
			mb, err := k.mergeBase(u.New)
			if err != nil {
				return err
			}
			base = mb
		}
	}
	return k.changedPackages(u.Ref, base, u.New)
}

// branch handles the repository branch: never deleted, rewritten only by
// admins, its policies changed only by admins, and every package it adds
// or changes validated.
func (k *check) branch(u revision.RefUpdate) error {
	if u.New == revision.ZeroID {
		k.refuse(u.Ref, "the repository branch %s cannot be deleted", k.cfg.Branch)
		return nil
	}
	oldPol := ""
	if u.Old != revision.ZeroID {
		ff, err := k.push.Repo.IsAncestor(k.ctx, u.Old, u.New)
		if err != nil {
			return err
		}
		if !ff && k.push.Role != store.RoleAdmin {
			k.refuse(u.Ref, "not a fast-forward: rewriting the repository branch takes the admin role (published revisions are commits of it)")
			return nil
		}
		if oldPol, err = k.TreeID(u.Old, pkgcheck.PoliciesDir); err != nil {
			return err
		}
	}
	newPol, err := k.TreeID(u.New, pkgcheck.PoliciesDir)
	if err != nil {
		return err
	}
	if oldPol != newPol {
		// Creating the branch (the first push of a repository) does not
		// take the admin role; its policies are compiled all the same.
		if u.Old != revision.ZeroID && k.push.Role != store.RoleAdmin {
			k.refuse(u.Ref, "changing %s takes the admin role", pkgcheck.PoliciesDir)
			return nil
		}
		k.policiesChanged = true
	}
	base := u.Old
	if base == revision.ZeroID {
		base = ""
	}
	return k.changedPackages(u.Ref, base, u.New)
}

// workspace handles a draft or proposal branch: it must hold the package it
// names, which is validated when it changed.
func (k *check) workspace(u revision.RefUpdate, src revision.Source) error {
	if u.New == revision.ZeroID {
		return nil
	}
	full := k.cfg.Full(src.Package)
	tree, err := k.packageTree(u.New, full)
	if err != nil {
		return err
	}
	if tree == "" {
		k.refuse(u.Ref, "the branch names package %s, but its commit has no %s/Kptfile", full, full)
		return nil
	}
	if u.Old != revision.ZeroID {
		if old, err := k.TreeID(u.Old, full); err == nil && old == tree {
			return nil // the package did not change
		} else if err != nil {
			return err
		}
	}
	prev, err := k.latestPublished(full, 0)
	if err != nil {
		return err
	}
	k.addPackage(full, tree, u.Ref, prev)
	return nil
}

// onBranch tells whether a commit is on the repository branch after the
// push; many tags of one push share a commit, which is asked about once.
func (k *check) onBranch(commit string) (bool, error) {
	if on, ok := k.ancestors[commit]; ok {
		return on, nil
	}
	outside, err := k.outsideBranch()
	if err != nil {
		return false, err
	}
	if !k.heads[commit] {
		// Not a commit of the push's refs: asked about alone.
		on, err := k.push.Repo.IsAncestor(k.ctx, commit, k.branchTip)
		if err == nil {
			k.ancestors[commit] = on
		}
		return on, err
	}
	_, out := outside[commit]
	k.ancestors[commit] = !out
	return !out, nil
}

// latestPublished returns the tree of a package's published revision v<n>
// (n 0: the highest), "" if there is none or the policies do not look at
// it (pkgcheck's Run.Previous, through what the push read).
func (k *check) latestPublished(full string, n int) (string, error) {
	return k.val.Previous(k.tagList, k, full, n)
}

// changedPackages queues the packages whose trees differ between two
// commits (base "" : every package of head) and that head holds. Work is
// proportional to the change: unchanged subtrees are not entered.
func (k *check) changedPackages(ref, base, head string) error {
	root := k.cfg.Directory
	var baseTree string
	if base != "" {
		var err error
		if baseTree, err = k.TreeID(base, root); err != nil {
			return err
		}
	}
	headTree, err := k.TreeID(head, root)
	if err != nil || headTree == "" {
		return err
	}
	changes, err := pkgcheck.Changes(k.observer(), k.cfg, baseTree, headTree)
	if err != nil {
		return err
	}
	for _, c := range changes {
		prev, err := k.latestPublished(c.Full, 0)
		if err != nil {
			return err
		}
		k.addPackage(c.Full, c.Tree, ref, prev)
	}
	return nil
}

// Entries returns the entries of a tree, read once per push (the check
// is the pkgcheck.Trees its packages are read through).
func (k *check) Entries(tree string) ([]gitrepo.TreeEntry, error) {
	if e, ok := k.objs.entries[tree]; ok {
		return e, nil
	}
	e, err := k.batch.ReadTree(tree)
	if err == nil {
		k.objs.entries[tree] = e
	}
	return e, err
}

// TreeID returns the id of the tree at path in a commit, "" if there is
// none.
func (k *check) TreeID(commit, path string) (string, error) {
	if err := k.readObjects([]string{commit}); err != nil {
		return "", err
	}
	root, ok := k.objs.roots[commit]
	if !ok {
		// Not a commit: git resolves the path as it can.
		id, err := k.batch.TreeID(commit, path)
		if errors.Is(err, gitrepo.ErrObjectNotFound) {
			return "", nil
		}
		return id, err
	}
	if path == "" {
		return root, nil
	}
	key := [2]string{root, path}
	if id, ok := k.objs.paths[key]; ok {
		return id, nil
	}
	id, err := k.batch.TreeID(root, path)
	if errors.Is(err, gitrepo.ErrObjectNotFound) {
		id, err = "", nil
	}
	if err == nil {
		k.objs.paths[key] = id
	}
	return id, err
}

// packageTree returns the tree of a package in a commit, "" if the commit
// has no Kptfile there (pkgcheck.PackageTree, through what the push read).
func (k *check) packageTree(commit, full string) (string, error) {
	return pkgcheck.PackageTree(k, commit, full)
}

func (k *check) addPackage(full, tree, ref, previous string) {
	key := full + "\x00" + tree
	if p, ok := k.pkgs[key]; ok {
		p.refs = append(p.refs, ref)
		return
	}
	k.pkgs[key] = &pkgToValidate{full: full, tree: tree, refs: []string{ref}}
	k.order = append(k.order, key)
	k.val.Add(full, tree, previous)
}
