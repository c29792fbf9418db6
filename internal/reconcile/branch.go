package reconcile

import (
	"cmp"
	"fmt"
	"maps"
	"slices"

	"github.com/pkgserver/pkgserver/internal/observe"
	"github.com/pkgserver/pkgserver/internal/revision"
)

// branch works out the packages at the head of the branch that changed
// between two commits: all of them when there is no old commit or the new
// one does not descend from it, else by comparing trees. No new commit is
// a branch that is gone, or that never was (a repository without refs).
func (p *pass) branch(oldCommit, newCommit string) error {
	p.u.BranchCommit = newCommit
	trees := map[string]string{} // package -> tree at the new head, "" if gone
	var commits map[string]string
	var err error
	switch {
	case newCommit == "":
		// A rebuild starts from nothing: there is nothing stored to be gone.
		if p.mode != modeFull {
			if err := p.storedBranchGone(trees); err != nil {
				return err
			}
		}
	case oldCommit != "":
		done, err := p.branchSince(oldCommit, newCommit, trees)
		if err != nil {
			return err
		}
		if done {
			break
		}
		fallthrough
	default:
		if p.mode != modeFull {
			if err := p.storedBranchGone(trees); err != nil {
				return err
			}
		}
		pkgs, problems, err := p.sc.branchPackages(newCommit)
		if err != nil {
			return err
		}
		maps.Copy(trees, pkgs)
		for path, msg := range problems {
			trees[path] = ""
			p.branchProblems[path] = msg
		}
	}
	var present []string
	for pkg, tree := range trees {
		p.affected[pkg] = true
		if tree == "" {
			p.newBranch[pkg] = nil
			p.u.DeletedBranch = append(p.u.DeletedBranch, pkg)
		} else {
			present = append(present, pkg)
		}
	}
	slices.Sort(p.u.DeletedBranch)
	slices.Sort(present)
	if len(present) == 0 {
		return nil
	}
	commits = p.branchCommits
	if commits == nil {
		if commits, err = p.sc.lastChanges(newCommit, nil, present); err != nil {
			return err
		}
	}
	var ids []string
	for _, c := range commits {
		ids = append(ids, c)
	}
	if _, err := p.sc.ReadObjects(ids, nil); err != nil {
		return err
	}
	for _, pkg := range present {
		src, _, _ := p.cfg.ParseRef(p.branchRef())
		src.Package = pkg
		commit := cmp.Or(commits[pkg], newCommit)
		var committed revision.Made
		if c := p.sc.Commits[commit]; c != nil {
			committed = observe.CommitMade(c)
		}
		o := revision.Observe(p.cfg, src, commit, trees[pkg], committed, nil)
		p.newBranch[pkg] = &o
	}
	return nil
}

// storedBranchGone marks every package the index has on the branch as
// possibly gone.
func (p *pass) storedBranchGone(trees map[string]string) error {
	_, obs, err := p.r.store.BranchPackages(p.ctx, p.repo.ID)
	if err != nil {
		return err
	}
	for _, o := range obs {
		trees[o.Package] = ""
	}
	return nil
}

// maxPushChain is the longest first-parent chain a push may add for the
// branch to be compared commit by commit; longer ones go through git log.
const maxPushChain = 200

// branchSince works out the packages a move of the branch from oldCommit to
// newCommit touched, and the newest commit touching each, when newCommit
// descends from oldCommit. It returns false when it does not, and the
// branch must be read whole.
func (p *pass) branchSince(oldCommit, newCommit string, trees map[string]string) (bool, error) {
	chain, ok, err := p.sc.firstParents(newCommit, oldCommit, maxPushChain)
	if err != nil {
		return false, err
	}
	touched := map[string]string{} // package path -> newest commit changing it
	if ok {
		// Each commit against its first parent, newest first, as
		// git log --first-parent sees them.
		for i, c := range chain {
			parent := oldCommit
			if i+1 < len(chain) {
				parent = chain[i+1]
			}
			changed, err := p.sc.diffBranch(parent, c)
			if err != nil {
				return false, err
			}
			for path := range changed {
				if _, seen := touched[path]; !seen {
					touched[path] = c
				}
			}
		}
	} else {
		ancestor, err := p.git.IsAncestor(p.ctx, oldCommit, newCommit)
		if err != nil || !ancestor {
			return false, err
		}
		changed, err := p.sc.diffBranch(oldCommit, newCommit)
		if err != nil {
			return false, err
		}
		if touched, err = p.sc.lastChanges(newCommit, []string{oldCommit}, slices.Collect(maps.Keys(changed))); err != nil {
			return false, err
		}
		for path := range changed {
			if _, ok := touched[path]; !ok {
				touched[path] = ""
			}
		}
	}
	pkgs, problems, err := p.packagesAt(newCommit, slices.Collect(maps.Keys(touched)))
	if err != nil {
		return false, err
	}
	for path := range touched {
		trees[path] = pkgs[path]
		if msg, bad := problems[path]; bad {
			p.branchProblems[path] = msg
		}
	}
	p.branchCommits = map[string]string{}
	var unknown []string
	for path, c := range touched {
		if pkgs[path] == "" {
			continue
		}
		if c == "" {
			unknown = append(unknown, path)
		} else {
			p.branchCommits[path] = c
		}
	}
	if len(unknown) > 0 {
		// Changed without a first-parent commit of the push changing it:
		// look further back.
		more, err := p.sc.lastChanges(newCommit, nil, unknown)
		if err != nil {
			return false, err
		}
		maps.Copy(p.branchCommits, more)
	}
	return true, nil
}

// packagesAt tells which of the given paths are packages at a commit, with
// their trees, and which hold a Kptfile but are not valid package paths.
func (p *pass) packagesAt(commit string, paths []string) (map[string]string, map[string]string, error) {
	slices.Sort(paths)
	commits := make([]string, len(paths))
	fulls := make([]string, len(paths))
	for i, path := range paths {
		commits[i] = commit
		if path == "" {
			fulls[i] = p.cfg.Directory
		} else {
			fulls[i] = p.cfg.Full(path)
		}
	}
	trees, err := p.sc.TreePaths(commits, fulls)
	if err != nil {
		return nil, nil, err
	}
	if err := p.sc.ReadTrees(trees); err != nil {
		return nil, nil, err
	}
	pkgs, problems := map[string]string{}, map[string]string{}
	for i, path := range paths {
		if trees[i] == "" || !observe.HasKptfile(p.sc.Trees[trees[i]]) {
			continue
		}
		if path == "" {
			problems[path] = fmt.Sprintf("a Kptfile at the repository directory %q: packages are directories below it", "/"+p.cfg.Directory)
			continue
		}
		if err := revision.ValidatePackagePath(path); err != nil {
			problems[path] = err.Error()
			continue
		}
		pkgs[path] = trees[i]
	}
	return pkgs, problems, nil
}
