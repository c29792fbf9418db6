package hooks

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/revision"
)

// A push may name thousands of refs, most of them on a few commits: what
// is read of its objects is kept for the whole decision, and read in bulk
// (one pipelined `git cat-file --batch` pass for the objects the refs name,
// one for the package trees they hold) rather than ref by ref, each a round
// trip to git.

// objects is what a decision has read of the repository's objects.
type objects struct {
	// peeled is the commit each object named leads to, through annotated
	// tags, or why it leads to none.
	peeled map[string]peeled
	// roots is the root tree of each commit read.
	roots map[string]string
	// paths is the tree at a path of a root tree, "" when there is none.
	paths map[[2]string]string
	// entries are the tree objects read, by id.
	entries map[string][]gitrepo.TreeEntry
	// refExists tells whether a ref (a directory of a pushed one) exists.
	refExists map[string]bool
}

type peeled struct {
	commit string
	err    error
}

func newObjects() objects {
	return objects{peeled: map[string]peeled{}, roots: map[string]string{}, paths: map[[2]string]string{},
		entries: map[string][]gitrepo.TreeEntry{}, refExists: map[string]bool{}}
}

// errTagOfTag refuses a tag of a tag: the index peels an annotated tag
// one level, as git for-each-ref does, so a revision tag is a commit or an
// annotated tag of a commit, and nothing deeper.
var errTagOfTag = errors.New("a revision tag must point at a commit or at an annotated tag of a commit, not at a tag of a tag")

// readObjects reads the objects named (ids or other names git resolves)
// not read yet, following an annotated tag to what it points at.
func (k *check) readObjects(names []string) error {
	var want []string
	seen := map[string]bool{}
	for _, n := range names {
		if _, ok := k.objs.peeled[n]; !ok && n != "" && n != revision.ZeroID && !seen[n] {
			want = append(want, n)
			seen[n] = true
		}
	}
	// targets[i] is where want[i] leads so far.
	targets := slices.Clone(want)
	for depth := 0; len(want) > 0; depth++ {
		var next, nextTargets []string
		err := k.batch.ReadAll(targets, func(i int, obj *gitrepo.Object) error {
			name := want[i]
			switch {
			case obj == nil:
				k.objs.peeled[name] = peeled{err: fmt.Errorf("object %s: %w", targets[i], gitrepo.ErrObjectNotFound)}
			case obj.Type == "commit":
				tree, ok := commitTree(obj.Data)
				if !ok {
					return fmt.Errorf("commit %s has no tree", obj.ID)
				}
				k.objs.roots[obj.ID], k.objs.roots[name] = tree, tree
				k.objs.peeled[name] = peeled{commit: obj.ID}
				k.objs.peeled[obj.ID] = peeled{commit: obj.ID}
			case obj.Type == "tag" && depth == 0:
				tag, err := gitrepo.ParseTag(obj)
				if err != nil {
					k.objs.peeled[name] = peeled{err: err}
					return nil
				}
				next, nextTargets = append(next, name), append(nextTargets, tag.Target.String())
			case obj.Type == "tag":
				k.objs.peeled[name] = peeled{err: errTagOfTag}
			default:
				k.objs.peeled[name] = peeled{err: fmt.Errorf("a published revision must point at a commit, not a %s", obj.Type)}
			}
			return nil
		})
		if err != nil {
			return err
		}
		want, targets = next, nextTargets
	}
	return nil
}

// commitTree reads the tree of a commit object: its first header.
func commitTree(data []byte) (string, bool) {
	line, _, _ := bytes.Cut(data, []byte{'\n'})
	tree, ok := bytes.CutPrefix(line, []byte("tree "))
	return string(tree), ok && len(tree) >= 40
}

// readPackageTrees reads, in one pass, the trees at the given paths of the
// given commits (read already) and their entries.
func (k *check) readPackageTrees(commits, paths []string) error {
	var specs []string
	var keys [][2]string
	for i, c := range commits {
		root, ok := k.objs.roots[c]
		if !ok || paths[i] == "" {
			continue
		}
		key := [2]string{root, paths[i]}
		if _, done := k.objs.paths[key]; done {
			continue
		}
		k.objs.paths[key] = "" // until read: not found
		specs, keys = append(specs, root+":"+paths[i]), append(keys, key)
	}
	if len(specs) == 0 {
		return nil
	}
	return k.batch.ReadAll(specs, func(i int, obj *gitrepo.Object) error {
		if obj == nil || obj.Type != "tree" {
			return nil
		}
		k.objs.paths[keys[i]] = obj.ID
		if _, ok := k.objs.entries[obj.ID]; !ok {
			entries, err := gitrepo.ParseTree(obj.Data)
			if err != nil {
				return err
			}
			k.objs.entries[obj.ID] = entries
		}
		return nil
	})
}

// prefetch reads what the refs of the push lead to, and the trees of the
// packages the contract's refs name, in bulk.
func (k *check) prefetch() error {
	var names []string
	for _, u := range k.push.Updates {
		names = append(names, u.Old, u.New)
	}
	if err := k.readObjects(names); err != nil {
		return err
	}
	var commits, paths []string
	for _, u := range k.push.Updates {
		src, ok, err := k.cfg.ParseRef(u.Ref)
		if !ok || err != nil || src.Kind == revision.KindBranch {
			continue
		}
		full := k.cfg.Full(src.Package)
		for _, id := range []string{u.Old, u.New} {
			if p, ok := k.objs.peeled[id]; ok && p.err == nil {
				commits, paths = append(commits, p.commit), append(paths, full)
			}
		}
	}
	return k.readPackageTrees(commits, paths)
}

// refExists tells whether a ref exists, asking git once per name.
func (k *check) refExists(name string) bool {
	if ok, done := k.objs.refExists[name]; done {
		return ok
	}
	_, err := k.batch.Info(name)
	k.objs.refExists[name] = err == nil
	return err == nil
}

// outsideBranch returns the commits the push's refs lead to that are not
// on the branch after the push, and the commits between them and it, with
// their parents: one git process for the whole push. Past the checker's
// bound (an unrelated history pushed to a side branch) nothing is kept and
// heads is left empty: each ref's commit is then asked about alone.
func (k *check) outsideBranch() (map[string][]string, error) {
	if k.outside != nil {
		return k.outside, nil
	}
	var heads []string
	seen := map[string]bool{}
	for _, u := range k.push.Updates {
		if p, ok := k.objs.peeled[u.New]; ok && p.err == nil && !seen[p.commit] {
			heads = append(heads, p.commit)
			seen[p.commit] = true
		}
	}
	out, err := k.push.Repo.Outside(k.ctx, k.branchTip, heads, k.maxOutside())
	switch {
	case errors.Is(err, gitrepo.ErrTooManyCommits):
		k.outside, k.heads = map[string][]string{}, map[string]bool{}
		return k.outside, nil
	case err != nil:
		return nil, err
	}
	k.outside, k.heads = out, seen
	return out, nil
}

// mergeBase returns where the history of head (a commit a ref of the push
// leads to) joins the branch: found in what outsideBranch read when the
// history joins it once, else asked of git.
func (k *check) mergeBase(head string) (string, error) {
	outside, err := k.outsideBranch()
	if err != nil {
		return "", err
	}
	if k.heads[head] {
		if _, out := outside[head]; !out {
			return head, nil // on the branch
		}
		joins := map[string]bool{}
		seen := map[string]bool{head: true}
		for queue := []string{head}; len(queue) > 0 && len(joins) < 2; queue = queue[1:] {
			for _, parent := range outside[queue[0]] {
				switch _, out := outside[parent]; {
				case !out:
					joins[parent] = true
				case !seen[parent]:
					seen[parent] = true
					queue = append(queue, parent)
				}
			}
		}
		switch len(joins) {
		case 0:
			return "", nil // a history of its own
		case 1:
			for j := range joins {
				return j, nil
			}
		}
	}
	return k.push.Repo.MergeBase(k.ctx, k.branchTip, head)
}
