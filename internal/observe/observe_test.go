package observe

import (
	"context"
	"testing"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/revision"
)

// TestObserveThroughCallersBatch: ObserveRefs and TreeProblems read
// through the batch their caller has open (a push decision's), and leave
// it open: they start no git process of their own. What they observe is
// what the index observes: the package's tree, a nested Kptfile as a
// problem, a one-level annotated tag peeled.
func TestObserveThroughCallersBatch(t *testing.T) {
	r := gittest.New(t)
	r.Write(gittest.Package("nginx", "1"))
	r.Write(map[string]string{"bad/Kptfile": gittest.Kptfile("bad"), "bad/sub/Kptfile": gittest.Kptfile("sub")})
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
	draft := gitrepo.Ref{Name: "refs/heads/drafts/bad/w", Target: c, Commit: c}
	dsrc, _, _ := cfg.ParseRef(draft.Name)
	obs, err := ObserveRefs(ctx, b, cfg, []gitrepo.Ref{tag, draft}, []revision.Source{src, dsrc})
	if err != nil {
		t.Fatal(err)
	}
	if obs[0].Tree != r.Rev(c+":nginx") || obs[0].Problem != "" || obs[1].Problem == "" {
		t.Errorf("observations = %+v", obs)
	}
	problems, err := TreeProblems(ctx, b, cfg, []string{r.Rev(c + ":nginx"), r.Rev(c + ":bad")})
	if err != nil {
		t.Fatal(err)
	}
	if problems[0] != "" || problems[1] == "" {
		t.Errorf("problems = %q", problems)
	}
	if _, err := b.Info(c); err != nil {
		t.Errorf("the caller's batch was closed: %v", err)
	}
}
