package observe

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/revision"
)

// TestObserveThroughCallersBatch: ObserveRefs and TreeProblems read
// through the batch their caller has open (a push decision's), and leave
// it open: they start no git process of their own. What they observe is
// what the index observes: the package's tree, a one-level annotated tag
// peeled, a subpackage as content of its package (no problem), a directory
// without a Kptfile as no package.
func TestObserveThroughCallersBatch(t *testing.T) {
	r := gittest.New(t)
	r.Write(gittest.Package("nginx", "1"))
	r.Write(map[string]string{"parent/Kptfile": gittest.Kptfile("parent"), "parent/sub/Kptfile": gittest.Kptfile("sub"),
		"parent/sub/cm.yaml": "kind: ConfigMap\n", "plain/cm.yaml": "kind: ConfigMap\n"})
	c := r.Commit("one")
	r.Tag("nginx/v1", c, "annotated")
	repo, err := gitrepo.Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	b, err := repo.NewBatch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cfg := revision.Config{Repository: "r", Branch: "main"}
	tag := gitrepo.Ref{Name: "refs/tags/nginx/v1", Target: r.Rev("refs/tags/nginx/v1"), Commit: c, Annotated: true}
	src, _, _ := cfg.ParseRef(tag.Name)
	draft := gitrepo.Ref{Name: "refs/heads/drafts/parent/w", Target: c, Commit: c}
	dsrc, _, _ := cfg.ParseRef(draft.Name)
	obs, err := ObserveRefs(ctx, b, cfg, []gitrepo.Ref{tag, draft}, []revision.Source{src, dsrc})
	if err != nil {
		t.Fatal(err)
	}
	if obs[0].Tree != r.Rev(c+":nginx") || obs[0].Problem != "" || obs[1].Tree != r.Rev(c+":parent") || obs[1].Problem != "" {
		t.Errorf("observations = %+v", obs)
	}
	problems, err := TreeProblems(ctx, b, cfg, []string{r.Rev(c + ":nginx"), r.Rev(c + ":parent"), r.Rev(c + ":plain")})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"", "", "the directory has no Kptfile"}, problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if _, err := b.Info(c); err != nil {
		t.Errorf("the caller's batch was closed: %v", err)
	}
}

// TestSubpackageIsContent: a directory holding a Kptfile below a package's
// root is a subpackage, whose files are the package's; only the outermost
// Kptfile makes a package of the repository.
func TestSubpackageIsContent(t *testing.T) {
	r := gittest.New(t)
	r.Write(map[string]string{"parent/Kptfile": gittest.Kptfile("parent"), "parent/cm.yaml": "kind: ConfigMap\n",
		"parent/sub/Kptfile": gittest.Kptfile("sub"), "parent/sub/deploy.yaml": "kind: Deployment\n",
		"parent/sub/deeper/Kptfile": gittest.Kptfile("deeper")})
	c := r.Commit("one")
	repo, err := gitrepo.Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	rd := New(context.Background(), repo, revision.Config{Repository: "r", Branch: "main"})
	defer rd.Close()
	tree := r.Rev(c + ":parent")
	read, err := rd.PackageTrees([]string{tree})
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, f := range read[tree].Files {
		files = append(files, f.Path)
	}
	want := []string{"Kptfile", "cm.yaml", "sub/Kptfile", "sub/deeper/Kptfile", "sub/deploy.yaml"}
	if diff := cmp.Diff(want, files); diff != "" || !read[tree].Kptfile || read[tree].Problem != "" {
		t.Errorf("tree: Kptfile %v, problem %q, files (-want +got):\n%s", read[tree].Kptfile, read[tree].Problem, diff)
	}
	// A ref naming a subpackage names no package of the index; a ref naming
	// the package does.
	cfg := revision.Config{Repository: "r", Branch: "main"}
	var refs []gitrepo.Ref
	var srcs []revision.Source
	for _, name := range []string{"refs/tags/parent/v1", "refs/tags/parent/sub/v1", "refs/heads/drafts/parent/sub/deeper/w"} {
		src, _, _ := cfg.ParseRef(name)
		refs, srcs = append(refs, gitrepo.Ref{Name: name, Target: c, Commit: c}), append(srcs, src)
	}
	obs, err := rd.Refs(refs, srcs)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range obs {
		got = append(got, o.Problem)
	}
	if diff := cmp.Diff([]string{"",
		"parent/sub is a subpackage of parent at this commit: content of that package, not a package of its own",
		"parent/sub/deeper is a subpackage of parent at this commit: content of that package, not a package of its own",
	}, got); diff != "" {
		t.Errorf("problems of refs (-want +got):\n%s", diff)
	}
	pkgs, problems, err := rd.Packages(r.Rev(c + "^{tree}"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"parent": tree}, pkgs); diff != "" || len(problems) != 0 {
		t.Errorf("packages (-want +got), problems %v:\n%s", problems, diff)
	}
}
