package pkgcheck_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/krm"
	"github.com/pkgserver/pkgserver/internal/krm/krmtest"
	"github.com/pkgserver/pkgserver/internal/pkgcheck"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/schema"
	"github.com/pkgserver/pkgserver/internal/validate"
)

// root is the configuration of a repository whose packages are at its root.
var root = revision.Config{Repository: "r", Branch: "main"}

// newRepo returns a repository whose main holds the packages nginx and
// redis, with nginx/v1 tagged on it, HEAD detached at main.
func newRepo(t *testing.T) *gittest.Repo {
	t.Helper()
	r := gittest.New(t)
	r.Write(gittest.Package("nginx", "1"))
	r.Write(gittest.Package("redis", "1"))
	c := r.Commit("initial")
	r.Tag("nginx/v1", c, "")
	r.Checkout("--detach")
	return r
}

// commit commits files written and paths removed on top of HEAD.
func commit(r *gittest.Repo, files map[string]string, remove ...string) string {
	if len(remove) > 0 {
		r.Remove(remove...)
	}
	r.Write(files)
	return r.Commit(fmt.Sprintf("change %d", len(files)))
}

func open(t *testing.T, r *gittest.Repo) *gitrepo.Repo {
	t.Helper()
	repo, err := gitrepo.Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

// brokenPolicy does not compile.
const brokenPolicy = `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: broken
spec:
  matchConstraints:
    resourceRules:
    - apiGroups: [apps]
      apiVersions: [v1]
      operations: [CREATE]
      resources: [deployments]
  validations:
  - expression: "object.spec.replicas <"
`

// TestValidateAt: the packages a commit holds are validated with the
// policies of the branch tip given; those it does not hold are left out;
// policies that do not compile are an error, not a finding.
func TestValidateAt(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	policies := commit(r, map[string]string{".pkgserver/policies/max-replicas.yaml": krmtest.MaxReplicasPolicy})
	c := commit(r, map[string]string{"nginx/deployment.yaml": krmtest.Deployment("9", "nginx:1")})
	broken := commit(r, map[string]string{".pkgserver/policies/broken.yaml": brokenPolicy})
	repo := open(t, r)
	s := pkgcheck.New(validate.Config{Limits: krm.DefaultLimits()})
	ctx := context.Background()

	rep, err := s.ValidateAt(ctx, repo, policies, c, []string{"nginx", "redis", "gone"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Accept || rep.Validated != 2 || !slices.Equal(rep.Packages, []string{"nginx", "redis"}) || len(rep.Checked) != 2 {
		t.Fatalf("report = %+v", rep)
	}
	if last := rep.Lines[len(rep.Lines)-1]; last != "pkgserver: validated 2 packages: 1 error, 0 warnings" {
		t.Errorf("last line = %q", last)
	}
	if len(rep.Results) != 1 || !strings.Contains(rep.Results[0].Message, "at most 5 replicas, not 9") {
		t.Errorf("results = %+v", rep.Results)
	}
	if v := rep.Validations(time.Now()); v[rep.Checked[0].Tree].Errors != 1 || v[rep.Checked[1].Tree].Errors != 0 {
		t.Errorf("validations = %+v", v)
	}

	rep, err = s.ValidateAt(ctx, repo, "", c, []string{"nginx"})
	if err != nil || !rep.Accept || rep.Validated != 1 {
		t.Errorf("without the branch's policies: %+v, %v", rep, err)
	}
	rep, err = s.ValidateAt(ctx, repo, policies, c, []string{"gone"})
	if err != nil || !rep.Accept || rep.Validated != 0 || rep.Lines != nil {
		t.Errorf("no package: %+v, %v", rep, err)
	}
	if _, err := s.ValidateAt(ctx, repo, broken, c, []string{"nginx"}); err == nil || !strings.HasPrefix(err.Error(), "the repository's policies: ") {
		t.Errorf("broken policies: err = %v", err)
	}
}

// TestChangedPackages: the packages a change adds or changes, by path from
// the repository's root, as a push checks them: removed packages are left
// out, and so are directories starting with a dot at the root, and a
// Kptfile at the repository directory itself.
func TestChangedPackages(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	base := r.Rev("HEAD")
	head := commit(r, map[string]string{
		"nginx/deployment.yaml": krmtest.Deployment("2", "nginx:1"),
		"Kptfile":               gittest.Kptfile("root"),
		".pkgserver/x/Kptfile":  gittest.Kptfile("x"),
		"apps/web/Kptfile":      gittest.Kptfile("web"),
	}, "redis")
	repo := open(t, r)
	ctx := context.Background()
	got, err := pkgcheck.ChangedPackages(ctx, repo, root, base, head)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"apps/web", "nginx"}; !slices.Equal(got, want) {
		t.Errorf("changed = %q, want %q", got, want)
	}
	if got, err = pkgcheck.ChangedPackages(ctx, repo, root, "", base); err != nil || !slices.Equal(got, []string{"nginx", "redis"}) {
		t.Errorf("from nothing = %q, %v", got, err)
	}
	if got, err = pkgcheck.ChangedPackages(ctx, repo, root, head, head); err != nil || got != nil {
		t.Errorf("no change = %q, %v", got, err)
	}
	sub := revision.Config{Repository: "r", Directory: "blueprints", Branch: "main"}
	bp := commit(r, map[string]string{"blueprints/db/Kptfile": gittest.Kptfile("db"), "blueprints/.hidden/Kptfile": gittest.Kptfile("h")})
	if got, err = pkgcheck.ChangedPackages(ctx, repo, sub, head, bp); err != nil || !slices.Equal(got, []string{"blueprints/.hidden", "blueprints/db"}) {
		t.Errorf("below a directory = %q, %v", got, err)
	}
}

func TestEngineCache(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	good := commit(r, map[string]string{".pkgserver/policies/max-replicas.yaml": krmtest.MaxReplicasPolicy})
	broken := commit(r, map[string]string{".pkgserver/policies/broken.yaml": brokenPolicy})
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
	tree := func(commit string) string {
		id, err := b.TreeID(commit, pkgcheck.PoliciesDir)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	c := &pkgcheck.EngineCache{Base: validate.Config{Limits: krm.DefaultLimits()}, Builtin: schema.NewBuiltin()}
	none1, err := c.Engine(ctx, repo, b, "")
	if err != nil {
		t.Fatal(err)
	}
	none2, err := c.Engine(ctx, repo, b, "")
	if err != nil {
		t.Fatal(err)
	}
	if none1 != none2 {
		t.Error("the engine of no policies was built twice")
	}
	withPolicy, err := c.Engine(ctx, repo, b, tree(good))
	if err != nil {
		t.Fatal(err)
	}
	if withPolicy == none1 {
		t.Error("the repository's policies gave the engine of none")
	}
	if again, err := c.Engine(ctx, repo, b, tree(good)); err != nil || again != withPolicy {
		t.Errorf("same policies: got %p, %v; want the engine built before, %p", again, err, withPolicy)
	}
	if _, err := c.Engine(ctx, repo, b, tree(broken)); err == nil || !strings.Contains(err.Error(), ".pkgserver/policies/broken.yaml:1") {
		t.Errorf("broken policy: err = %v, want one naming .pkgserver/policies/broken.yaml:1", err)
	}
}

// expiring hands out real engines once the context has ended (cancel
// ends it): what is read next is cut short.
type expiring struct{ cancel context.CancelFunc }

func (e expiring) Engine(ctx context.Context, repo *gitrepo.Repo, b *gitrepo.Batch, policies string) (*validate.Engine, error) {
	eng, err := pkgcheck.New(validate.Config{Limits: krm.DefaultLimits()}).Engines.Engine(ctx, repo, b, policies)
	e.cancel()
	<-ctx.Done()
	return eng, err
}

// TestValidateCutShort: validating for the API or a webhook check with a
// context that ends midway is an error, never findings of the reads it
// cut short.
func TestValidateCutShort(t *testing.T) {
	r := newRepo(t)
	c := commit(r, gittest.Package("nginx", "2"))
	repo, err := gitrepo.Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := pkgcheck.New(validate.Config{Limits: krm.DefaultLimits()})
	s.Engines = expiring{cancel}
	d, err := s.ValidateAt(ctx, repo, r.Rev("main"), c, []string{"nginx", "redis"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("ValidateAt = %+v, %v; want the cancellation", d, err)
	}
}
