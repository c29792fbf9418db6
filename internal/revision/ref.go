package revision

import (
	"fmt"
	"strconv"
	"strings"
)

// Kind is the kind of ref a revision comes from.
type Kind int

// The kinds of refs of the git contract, in the order their revisions claim
// object names: a published tag keeps its name over a draft that would
// take the same one.
const (
	KindTag Kind = iota
	KindBranch
	KindProposed
	KindDraft
	KindDeletionProposed
)

func (k Kind) String() string {
	return [...]string{"tag", "branch", "proposed", "draft", "deletionProposed"}[k]
}

// Ref name prefixes of the git contract.
const (
	DraftsPrefix           = "refs/heads/drafts/"
	ProposedPrefix         = "refs/heads/proposed/"
	DeletionProposedPrefix = "refs/heads/deletionProposed/"
	TagsPrefix             = "refs/tags/"
	BranchesPrefix         = "refs/heads/"
)

// Config is what a repository registration says about its refs.
type Config struct {
	// Repository is the registered repository's name.
	Repository string
	// Directory is the directory of the packages in the git repository, ""
	// for its root.
	Directory string
	// Branch is the repository branch (main).
	Branch string
}

// Normalize trims slashes from the directory.
func (c Config) Normalize() Config {
	c.Directory = strings.Trim(c.Directory, "/")
	return c
}

// Full returns the path of a package in the git repository: the directory
// joined with the package path.
func (c Config) Full(pkg string) string {
	if c.Directory == "" {
		return pkg
	}
	return c.Directory + "/" + pkg
}

// Source is what a ref's name says under the git contract.
type Source struct {
	Kind Kind
	Ref  string
	// Package is the package path below the directory; empty for the
	// branch, which holds many packages.
	Package string
	// Workspace is the workspace a draft or proposal names.
	Workspace string
	// Revision is a tag's last segment or a deletion proposal's v<N>; Number
	// is its N, 0 for tags of other shapes.
	Revision string
	Number   int
}

// ParseRef interprets a full ref name. ok is false for refs the contract
// does not cover (other branches, tags outside the directory); err says why
// a ref that looks like one of the contract's is malformed.
func (c Config) ParseRef(name string) (src Source, ok bool, err error) {
	c = c.Normalize()
	src.Ref = name
	var rest string
	switch {
	case name == BranchesPrefix+c.Branch:
		src.Kind = KindBranch
		src.Revision = c.Branch
		src.Workspace = LabelFrom(c.Branch)
		if src.Workspace == "" {
			return src, true, fmt.Errorf("branch %q gives no workspace name", c.Branch)
		}
		return src, true, nil
	case strings.HasPrefix(name, DraftsPrefix):
		src.Kind, rest = KindDraft, name[len(DraftsPrefix):]
	case strings.HasPrefix(name, ProposedPrefix):
		src.Kind, rest = KindProposed, name[len(ProposedPrefix):]
	case strings.HasPrefix(name, DeletionProposedPrefix):
		src.Kind, rest = KindDeletionProposed, name[len(DeletionProposedPrefix):]
	case strings.HasPrefix(name, TagsPrefix):
		src.Kind, rest = KindTag, name[len(TagsPrefix):]
	default:
		return src, false, nil
	}
	slash := strings.LastIndexByte(rest, '/')
	if slash < 0 {
		if src.Kind == KindTag {
			return src, false, nil // a release tag of the git repository
		}
		return src, true, fmt.Errorf("expected <package>/<%s> after the prefix", lastSegmentName(src.Kind))
	}
	full, last := rest[:slash], rest[slash+1:]
	pkg, inside := c.packageOf(full)
	if !inside {
		return src, false, nil // another registration's directory
	}
	if err := ValidatePackagePath(pkg); err != nil {
		return src, true, err
	}
	src.Package = pkg
	switch src.Kind {
	case KindDraft, KindProposed:
		if !IsLabel(last) {
			return src, true, fmt.Errorf("workspace %q is not an RFC 1123 label (lower-case letters, digits and '-')", last)
		}
		src.Workspace = last
	case KindDeletionProposed:
		src.Number = ParseRevisionNumber(last)
		if src.Number == 0 {
			return src, true, fmt.Errorf("a deletion proposal names a revision v<N>, not %q", last)
		}
		src.Revision = last
	case KindTag:
		src.Revision = last
		src.Number = ParseRevisionNumber(last)
	}
	return src, true, nil
}

func lastSegmentName(k Kind) string {
	if k == KindDeletionProposed {
		return "revision"
	}
	return "workspace"
}

// packageOf returns the package path of a full path, and whether the full
// path is below the directory.
func (c Config) packageOf(full string) (string, bool) {
	if c.Directory == "" {
		return full, true
	}
	if !strings.HasPrefix(full, c.Directory+"/") {
		return "", false
	}
	return full[len(c.Directory)+1:], true
}

// RefName is the ref a source names: the inverse of ParseRef for the refs
// it accepts.
func (c Config) RefName(src Source) string {
	c = c.Normalize()
	switch src.Kind {
	case KindBranch:
		return BranchesPrefix + c.Branch
	case KindDraft:
		return DraftsPrefix + c.Full(src.Package) + "/" + src.Workspace
	case KindProposed:
		return ProposedPrefix + c.Full(src.Package) + "/" + src.Workspace
	case KindDeletionProposed:
		return DeletionProposedPrefix + c.Full(src.Package) + "/" + src.Revision
	default:
		return TagsPrefix + c.Full(src.Package) + "/" + src.Revision
	}
}

// PullRequestRef names what an open pull request from a branch outside the
// git contract (feature-x, not drafts/…) proposes for one package:
// refs/pull/<n>/head:<package>. The colon keeps the name from being one git
// could hold; the index lists it among the repository's refs.
func PullRequestRef(n int, pkg string) string {
	return fmt.Sprintf("refs/pull/%d/head:%s", n, pkg)
}

// ParsePullRequestRef reads a name PullRequestRef made.
func ParsePullRequestRef(name string) (n int, pkg string, ok bool) {
	rest, ok := strings.CutPrefix(name, "refs/pull/")
	if !ok {
		return 0, "", false
	}
	num, pkg, ok := strings.Cut(rest, "/head:")
	if !ok || pkg == "" {
		return 0, "", false
	}
	n, err := strconv.Atoi(num)
	if err != nil || n <= 0 {
		return 0, "", false
	}
	return n, pkg, true
}
