package reconcile

// Porch's test repositories, rebuilt with git.
//
// Porch tests its reading of git against repositories archived in
// testdata/*.tar (github.com/nephio-project/porch, pkg/externalrepo/git;
// before that github.com/kptdev/kpt, porch/pkg/git), each described by a
// .md beside it — its tree, commit graph, branches and tags — and listed by
// its git_test.go (TestListPackagesTrivial, TestListPackagesSimple,
// TestListPackagesDrafts, TestNested, TestNestedDirectories, TestAuthor,
// TestDiscoverManuallyTaggedPackageWithTagMessage,
// TestDiscoverWithBadKptAnnotationFromNestedRepository...). Both projects
// are Apache-2.0. The builders below lay the same repositories out from
// those descriptions: directories, file names, commit messages, parents,
// branches, lightweight or annotated tags with their messages, and the
// kpt: annotation lines of the Porch version that made each commit. What a
// .md leaves open is assumed and said where it is: file contents (small
// stand-ins), authors and times (except publishinfo's approver, which
// TestAuthor states), and the bodies of annotations no .md quotes.
// TestPorchFixtures (porchfixtures_read_test.go) reads them.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
)

// person makes a commit or a tag, at a time.
type person struct {
	name, email string
	at          time.Time
}

// porchAt is Porch signing a commit: it commits as itself
// (porchSignatureName, porchSignatureEmail) and records the user it acts
// for as the author.
func porchAt(at time.Time) person {
	return person{"Package Orchestration Service", "porch@kpt.dev", at}
}

// kptLine is the annotation Porch appends to the message of each commit
// it makes (AnnotateCommitMessage: a blank line, "kpt:" and the JSON of its
// gitAnnotation). Its fields changed with Porch: in 2022 package, revision
// (the draft's "v1") and task; from late 2022 workspaceName as well; since
// numbered revisions, a revision "N". Task bodies are abbreviated here to
// their type: pkgserver does not read tasks.
type kptLine struct {
	Package       string          `json:"package,omitempty"`
	WorkspaceName string          `json:"workspaceName,omitempty"`
	Revision      string          `json:"revision,omitempty"`
	Task          json.RawMessage `json:"task,omitempty"`
}

func (a kptLine) annotate(msg string) string {
	b, err := json.Marshal(a)
	if err != nil {
		panic(err)
	}
	return msg + "\n\nkpt:" + string(b) + "\n"
}

func task(typ string) json.RawMessage { return json.RawMessage(`{"type":"` + typ + `"}`) }

// fixture is a repository being laid out, with commits made by whom the
// layout says.
type fixture struct {
	*gittest.Repo
	t     *testing.T
	clock time.Time
}

func newFixture(t *testing.T) *fixture {
	return &fixture{Repo: gittest.New(t), t: t, clock: time.Date(2022, 6, 1, 9, 0, 0, 0, time.UTC)}
}

// as is a person acting a minute after the last.
func (f *fixture) as(name, email string) person {
	f.clock = f.clock.Add(time.Minute)
	return person{name, email, f.clock}
}

// someone is a person editing the repository by hand; approver one
// approving drafts through Porch; tagger one tagging by hand.
func (f *fixture) someone() person  { return f.as("Ada Author", "ada@example.com") }
func (f *fixture) approver() person { return f.as("Jane Approver", "jane@example.com") }
func (f *fixture) tagger() person   { return f.as("Tina Tagger", "tina@example.com") }

// run runs git with the given author and committer (tagger).
func (f *fixture) run(author, committer person, args ...string) string {
	f.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = f.Dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + f.Dir, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=" + author.name, "GIT_AUTHOR_EMAIL=" + author.email, "GIT_AUTHOR_DATE=" + author.at.Format(time.RFC3339),
		"GIT_COMMITTER_NAME=" + committer.name, "GIT_COMMITTER_EMAIL=" + committer.email,
		"GIT_COMMITTER_DATE=" + committer.at.Format(time.RFC3339)}
	out, err := cmd.CombinedOutput()
	if err != nil {
		f.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit commits what is staged, on the branch checked out, authored by
// by[0] and committed by by[1] (by default both someone editing by hand).
func (f *fixture) commit(msg string, by ...person) string {
	f.t.Helper()
	author, committer := f.people(by)
	f.run(author, committer, "commit", "-q", "--allow-empty", "--cleanup=verbatim", "-m", msg)
	return f.Rev("HEAD")
}

func (f *fixture) people(by []person) (author, committer person) {
	switch len(by) {
	case 0:
		p := f.someone()
		return p, p
	case 1:
		return by[0], by[0]
	}
	return by[0], by[1]
}

// approve makes the approval commit of Porch versions from late 2022 to
// 2025 on main: main's tree with the package as the draft holds it, main
// and the draft as parents.
func (f *fixture) approve(pkg, draft, msg string, by ...person) string {
	f.t.Helper()
	author, committer := f.people(by)
	f.Checkout("main")
	f.Git("checkout", "-q", draft, "--", pkg)
	tree := f.Git("write-tree")
	c := f.run(author, committer, "commit-tree", tree, "-p", "main", "-p", draft, "-m", msg)
	f.Git("update-ref", "refs/heads/main", c)
	f.Git("reset", "-q", "--hard", "main")
	return c
}

// annotatedTag tags target with a message, as by tags it.
func (f *fixture) annotatedTag(name, target, msg string, by person) {
	f.t.Helper()
	f.run(by, by, "tag", "-a", "-m", msg, name, target)
}

// files returns stand-ins for the files a .md lists in a package: a
// Kptfile naming the package, a README, small ConfigMaps for the rest.
func files(dir string, names ...string) map[string]string {
	out := map[string]string{}
	base := path.Base(dir)
	for _, n := range names {
		switch {
		case n == "Kptfile":
			out[dir+"/"+n] = gittest.Kptfile(base)
		case strings.HasSuffix(n, ".md"):
			out[dir+"/"+n] = "# " + base + "\n"
		default:
			out[dir+"/"+n] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s-%s\n", base, strings.TrimSuffix(n, ".yaml"))
		}
	}
	return out
}

// trivialRepo is trivial-repository.tar: the branch main and a single
// empty commit (git_test.go says so; its message is assumed).
func trivialRepo(t *testing.T) *fixture {
	f := newFixture(t)
	f.commit("Empty Commit")
	return f
}

// emptyRepo is empty-repository.tar: no commit, no branch.
func emptyRepo(t *testing.T) *fixture { return newFixture(t) }

// simpleRepo is simple-repository.tar, which has no .md: the history of
// main that drafts-repository.md draws, which holds exactly the published
// revisions TestListPackagesSimple lists. It returns the repository and
// the commit tagged istions/v1, where the draft bucket branches off in
// drafts-repository.
func simpleRepo(t *testing.T) (*fixture, string) {
	f := newFixture(t)
	f.Write(files("empty", "Kptfile", "README.md"))
	f.Tag("empty/v1", f.commit("Empty Package"), "")
	f.Write(files("basens", "Kptfile", "README.md"))
	f.commit("Empty Base Namespace")
	f.Write(files("istions", "Kptfile", "README.md"))
	f.commit("Empty Istio Namespace")
	f.Write(files("basens", "package-context.yaml"))
	f.Tag("basens/v1", f.commit("Add Base Namespace Package Context"), "")
	f.Write(files("istions", "package-context.yaml"))
	istionsV1 := f.commit("Add Istio Namespace Package Context")
	f.Tag("istions/v1", istionsV1, "")
	f.Write(files("basens", "namespace.yaml"))
	f.Tag("basens/v2", f.commit("Add Base Namespace Resource"), "")
	f.Write(files("istions", "istions.yaml"))
	f.Tag("istions/v2", f.commit("Add Istio Namespace Resource"), "")
	return f, istionsV1
}

// draftsRepo is drafts-repository.tar (drafts-repository.md, second
// version): simpleRepo's main, a draft bucket made by hand off istions/v1,
// a draft none holding only a Kptfile, and a draft pkg-with-history that
// Porch made in 2022 (four commits, each annotated with its task and the
// draft's revision "v1", before Porch had workspace names).
func draftsRepo(t *testing.T) *fixture {
	f, istionsV1 := simpleRepo(t)
	f.Checkout("-b", "drafts/bucket/v1", istionsV1)
	f.Write(files("bucket", "Kptfile", "README.md"))
	f.commit("Empty Bucket Package")
	f.Write(files("bucket", "package-context.yaml"))
	f.commit("Add Bucket Package Context")
	f.Write(files("bucket", "bucket.yaml"))
	f.commit("Add Bucket Resource")

	f.Checkout("-b", "drafts/none/v1", "main")
	f.Write(files("none", "Kptfile"))
	f.commit("Add none package with Kptfile marker")

	f.Checkout("-b", "drafts/pkg-with-history/v1", "main")
	user := f.someone()
	for i, step := range []string{"init", "eval", "patch", "eval"} {
		f.Write(map[string]string{"pkg-with-history/Kptfile": gittest.Kptfile("pkg-with-history"),
			"pkg-with-history/step.yaml": fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: step\ndata:\n  step: %q\n", fmt.Sprint(i))})
		f.commit(kptLine{Package: "pkg-with-history", Revision: "v1", Task: task(step)}.annotate("Intermediate commit: "+step),
			user, porchAt(user.at))
	}
	f.Checkout("main")
	return f
}

// nestedRepo is nested-repository.tar (nested-repository.md; the .md of
// Porch's fork says catalog/kpt where every version of git_test.go, and
// the older .md, say catalog/gcp): packages at several depths, each tag on
// its own commit, drafts of three packages below catalog/gcp.
func nestedRepo(t *testing.T) *fixture {
	f := newFixture(t)
	f.commit("Empty Commit")
	step := func(msg, tag string, fs map[string]string) string {
		f.Write(fs)
		c := f.commit(msg)
		if tag != "" {
			f.Tag(tag, c, "")
		}
		return c
	}
	step("Sample Package", "sample/v1", files("sample", "Kptfile", "README.md"))
	step("Empty Package", "catalog/empty/v1", files("catalog/empty", "Kptfile", "README.md"))
	step("Base Namespace", "catalog/namespace/basens/v1", files("catalog/namespace/basens", "Kptfile", "README.md"))
	step("Istio Namespace", "catalog/namespace/istions/v1", files("catalog/namespace/istions", "Kptfile", "README.md"))
	step("Base Namespace Package Context", "catalog/namespace/basens/v2", files("catalog/namespace/basens", "package-context.yaml"))
	step("Istio Namespacd Package Context", "catalog/namespace/istions/v2", files("catalog/namespace/istions", "package-context.yaml"))
	step("Istio Namespace Resource", "catalog/namespace/istions/v3", files("catalog/namespace/istions", "namespace.yaml"))
	step("Base Namespace Resource", "catalog/namespace/basens/v3", files("catalog/namespace/basens", "namespace.yaml"))
	bucket := step("Bucket Package", "catalog/gcp/bucket/v1",
		files("catalog/gcp/bucket", "Kptfile", "README.md", "package-context.yaml", "bucket.yaml"))
	f.Checkout("-b", "drafts/catalog/gcp/cloud-sql/v1", bucket)
	step("Cloud SQL Package", "", files("catalog/gcp/cloud-sql", "Kptfile", "README.md"))
	f.Checkout("main")
	step("Sample Package Context", "sample/v2", files("sample", "package-context.yaml"))
	f.Checkout("-b", "drafts/catalog/gcp/spanner/v1", "main")
	step("Spanner Package", "", files("catalog/gcp/spanner", "Kptfile", "README.md"))
	f.Checkout("-b", "drafts/catalog/gcp/bucket/v2", "main")
	step("Enable Bucket Versioning", "", map[string]string{"catalog/gcp/bucket/bucket.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bucket-bucket\ndata:\n  versioning: \"true\"\n"})
	f.Checkout("main")
	return f
}

// publishinfoApprover is who approved pkg-with-anno, and when, as
// TestAuthor states.
var publishinfoApprover = person{"pkg-with-anno-author", "pkg-with-anno-author@example.com", time.Date(2022, 8, 26, 22, 47, 35, 0, time.UTC)}

// publishinfoRepo is publishinfo-repository.tar (publishinfo-repository.md,
// whose tree is drafts-repository's by mistake; the commit graph is what
// counts). pkg-with-anno was published by the Porch of August 2022: it
// replayed the draft's annotated commits onto main, then added an empty
// commit "Approve <package>/<revision>" without a kpt: line, and tagged it.
// pkg-without-anno was added and tagged by hand; a draft draft-pkg follows,
// and a commit by hand whose kpt: line names some-pkg, a package that does
// not exist (assumed: the .md gives only its subject).
func publishinfoRepo(t *testing.T) *fixture {
	f := newFixture(t)
	by := publishinfoApprover
	porch := porchAt(by.at)
	f.Write(files("pkg-with-anno", "Kptfile", "README.md"))
	f.commit(kptLine{Package: "pkg-with-anno", Revision: "v1", Task: task("init")}.annotate("Intermediate commit: init"), by, porch)
	f.Write(files("pkg-with-anno", "package-context.yaml"))
	f.commit(kptLine{Package: "pkg-with-anno", Revision: "v1", Task: task("eval")}.annotate("Intermediate commit: eval"), by, porch)
	f.Tag("pkg-with-anno/v1", f.commit("Approve pkg-with-anno/v1", by, porch), "")

	f.clock = by.at
	f.Write(files("pkg-without-anno", "Kptfile", "README.md"))
	without := f.commit("Approval for package pkg-without-anno/v1")
	f.Tag("pkg-without-anno/v1", without, "")

	f.Checkout("-b", "drafts/draft-pkg/v1")
	user := f.someone()
	f.Write(files("draft-pkg", "Kptfile", "README.md"))
	f.commit(kptLine{Package: "draft-pkg", Revision: "v1", Task: task("init")}.annotate("Intermediate commit: init"), user, porchAt(user.at))
	f.Write(files("draft-pkg", "package-context.yaml"))
	f.commit(kptLine{Package: "draft-pkg", Revision: "v1", Task: task("eval")}.annotate("Intermediate commit: eval"), user, porchAt(user.at))
	f.Checkout("main")
	f.commit(kptLine{Package: "some-pkg", Revision: "v1"}.annotate("Approval for some-pkg/v1"))
	return f
}

// manuallyTaggedRepo is manual-tagged-repository.tar
// (manually-tagged-repository.md): pkg/v1 approved by the Porch of 2024 —
// intermediate commits on a draft (workspace v1, assumed from the branch
// names of the same period's fixtures), a merge "Approve pkg/v1" carrying
// the kpt: line, a lightweight tag — then a commit by hand tagged pkg/v2
// with an annotated tag, "some comment".
func manuallyTaggedRepo(t *testing.T) *fixture {
	f := newFixture(t)
	f.Write(map[string]string{"README.md": "# blueprints\n"})
	f.commit("Initial commit")
	f.Checkout("-b", "drafts/pkg/v1")
	user := f.someone()
	f.Write(files("pkg", "Kptfile", "README.md"))
	f.commit(kptLine{Package: "pkg", WorkspaceName: "v1", Task: task("init")}.annotate("Intermediate commit: init"), user, porchAt(user.at))
	f.Write(files("pkg", "package-context.yaml"))
	f.commit(kptLine{Package: "pkg", WorkspaceName: "v1", Task: task("eval")}.annotate("Intermediate commit: eval"), user, porchAt(user.at))
	approver := f.approver()
	v1 := f.approve("pkg", "drafts/pkg/v1",
		kptLine{Package: "pkg", WorkspaceName: "v1", Revision: "v1"}.annotate("Approve pkg/v1"), approver, porchAt(approver.at))
	f.Git("branch", "-D", "drafts/pkg/v1")
	f.Tag("pkg/v1", v1, "")
	f.Write(map[string]string{"pkg/README.md": "# pkg\n\nEdited by hand.\n"})
	v2 := f.commit("manual v2")
	f.annotatedTag("pkg/v2", v2, "some comment", f.tagger())
	return f
}

// invalidAnnotationRepo is nested-repository-with-invalid-kpt-annotation.tar
// (its .md): packages bp1 and bp2 below blueprint, bp10 below blueprint2.
// bp1/v1, bp2/v1 and bp2/v2 were approved by the Porch of 2024 (their
// drafts' last commits stay behind as the branches blueprint/bp1/v1 and
// blueprint/bp2/v1, which the graph shows); bp1/v2 and bp1/v3 are
// commits by hand, the first carrying the invalid line
// "kpt:{invalid:annotation}", the second a valid one (its body assumed);
// bp10/v1 is added and tagged by hand. Every tag is lightweight.
func invalidAnnotationRepo(t *testing.T) *fixture {
	f := newFixture(t)
	f.Write(map[string]string{"README.md": "# blueprints\n"})
	initial := f.commit("Initial commit")
	draft := func(branch, pkg, ws string, base string, steps ...string) {
		f.Checkout("-b", branch, base)
		user := f.someone()
		for i, s := range steps {
			fs := files(pkg, "Kptfile", "README.md", "package-context.yaml")
			fs[pkg+"/package-context.yaml"] += fmt.Sprintf("data:\n  step: %q\n", fmt.Sprint(ws, i))
			f.Write(fs)
			f.commit(kptLine{Package: pkg, WorkspaceName: ws, Task: task(s)}.annotate("Intermediate commit: "+s), user, porchAt(user.at))
		}
	}
	approve := func(pkg, ws, draft string) string {
		a := f.approver()
		c := f.approve(pkg, draft, kptLine{Package: pkg, WorkspaceName: ws, Revision: ws}.annotate("Approve "+pkg+"/"+ws), a, porchAt(a.at))
		f.Tag(pkg+"/"+ws, c, "")
		return c
	}
	draft("blueprint/bp1/v1", "blueprint/bp1", "v1", initial, "init", "eval")
	approve("blueprint/bp1", "v1", "blueprint/bp1/v1")
	draft("blueprint/bp2/v1", "blueprint/bp2", "v1", initial, "init", "eval")
	approve("blueprint/bp2", "v1", "blueprint/bp2/v1")
	f.Checkout("main")
	f.Write(map[string]string{"blueprint/bp1/README.md": "# bp1\n\nv2\n"})
	f.Tag("blueprint/bp1/v2", f.commit("invalid annotation\n\nkpt:{invalid:annotation}\n"), "")
	f.Write(map[string]string{"blueprint/bp1/README.md": "# bp1\n\nv3\n"})
	v3 := f.commit(kptLine{Package: "blueprint/bp1", WorkspaceName: "v3", Revision: "v3"}.annotate("valid annotation"))
	f.Tag("blueprint/bp1/v3", v3, "")
	draft("drafts/blueprint/bp2/v2", "blueprint/bp2", "v2", v3, "edit", "eval", "patch", "eval")
	approve("blueprint/bp2", "v2", "drafts/blueprint/bp2/v2")
	f.Git("branch", "-D", "drafts/blueprint/bp2/v2")
	f.Write(files("blueprint2/bp10", "Kptfile", "package-context.yaml", "README.md"))
	f.Tag("blueprint2/bp10/v1", f.commit("manually add bp10"), "")
	return f
}
