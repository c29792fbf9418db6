package hooks_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pkgserver/pkgserver/hooks"
	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/krm"
	"github.com/pkgserver/pkgserver/internal/krm/krmtest"
	"github.com/pkgserver/pkgserver/internal/pkgcheck"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
	"github.com/pkgserver/pkgserver/internal/validate"
)

const zero = "0000000000000000000000000000000000000000"

// The engines are costly to build (the built-in schemas, compiled CEL):
// one cache for the whole test binary.
var (
	serviceOnce sync.Once
	service     *pkgcheck.Service
)

func testService() *pkgcheck.Service {
	serviceOnce.Do(func() {
		service = pkgcheck.New(validate.Config{Limits: krm.DefaultLimits()})
	})
	return service
}

// withEngines is a service whose engines come from e.
func withEngines(e pkgcheck.Engines) *pkgcheck.Service {
	s := pkgcheck.New(validate.Config{Limits: krm.DefaultLimits()})
	s.Engines = e
	return s
}

// root is the configuration of a repository whose packages are at its root.
var root = revision.Config{Repository: "r", Branch: "main"}

// template is newRepo's repository, built once and copied: building one
// takes a dozen git commands.
var template struct {
	once sync.Once
	dir  string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if template.dir != "" {
		os.RemoveAll(template.dir)
	}
	os.Exit(code)
}

// newRepo returns a repository whose main holds the packages nginx and
// redis, with nginx/v1 tagged on it. HEAD is left detached at main: the
// commits a test makes next move no ref, as the objects of a push that is
// not accepted yet.
func newRepo(t *testing.T) *gittest.Repo {
	t.Helper()
	template.once.Do(func() {
		r := gittest.New(t)
		r.Write(gittest.Package("nginx", "1"))
		r.Write(gittest.Package("redis", "1"))
		c := r.Commit("initial")
		r.Tag("nginx/v1", c, "")
		r.Checkout("--detach")
		dir, err := os.MkdirTemp("", "pkgserver-hooks-")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.CopyFS(dir, os.DirFS(r.Dir)); err != nil {
			os.RemoveAll(dir)
			t.Fatal(err)
		}
		template.dir = dir
	})
	if template.dir == "" {
		t.Fatal("no template repository")
	}
	r := gittest.New(t)
	if err := os.RemoveAll(filepath.Join(r.Dir, ".git")); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(r.Dir, os.DirFS(template.dir)); err != nil {
		t.Fatal(err)
	}
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

// onMain commits on main itself, moving it: state before the push.
func onMain(r *gittest.Repo, files map[string]string, remove ...string) string {
	r.Checkout("main")
	c := commit(r, files, remove...)
	r.Checkout("--detach")
	return c
}

func upd(old, new, ref string) revision.RefUpdate {
	return revision.RefUpdate{Old: old, New: new, Ref: ref}
}

func check(t *testing.T, r *gittest.Repo, cfg revision.Config, role store.Role, updates ...revision.RefUpdate) *hooks.Decision {
	t.Helper()
	repo, err := gitrepo.Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	c := &hooks.Checker{Packages: testService()}
	d, err := c.Check(context.Background(), &hooks.Push{Repo: repo, Config: cfg, Role: role, Updates: updates})
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return d
}

// noShrink is a repository policy that compares a package with its previous
// published revision.
const noShrink = `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: no-shrink
spec:
  matchConstraints:
    resourceRules:
    - apiGroups: [apps]
      apiVersions: [v1]
      operations: [UPDATE]
      resources: [deployments]
  validations:
  - expression: "object.spec.replicas >= oldObject.spec.replicas"
    messageExpression: "'replicas went down from ' + string(oldObject.spec.replicas)"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: no-shrink
spec:
  policyName: no-shrink
  validationActions: [Deny]
`

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

// summary is the line that closes the findings of a validation.
func summary(pkgs, errs, warns int) string {
	p := func(n int, w string) string {
		if n == 1 {
			return "1 " + w
		}
		return fmt.Sprintf("%d %ss", n, w)
	}
	return fmt.Sprintf("pkgserver: validated %s: %s, %s", p(pkgs, "package"), p(errs, "error"), p(warns, "warning"))
}

func refusedValidation(errs int) string {
	if errs == 1 {
		return "pkgserver: refused: 1 validation error in the pushed packages; nothing was updated"
	}
	return fmt.Sprintf("pkgserver: refused: %d validation errors in the pushed packages; nothing was updated", errs)
}

type pushTest struct {
	name string
	// cfg is root when zero.
	cfg revision.Config
	// push prepares the repository (newRepo's) and returns the updates.
	push   func(t *testing.T, r *gittest.Repo) []revision.RefUpdate
	role   store.Role
	accept bool
	lines  []string
	// prefix compares each line's beginning only.
	prefix    bool
	validated int
}

func runPushTests(t *testing.T, tests []pushTest) {
	t.Helper()
	t.Parallel()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRepo(t)
			updates := tt.push(t, r)
			cfg := tt.cfg
			if cfg == (revision.Config{}) {
				cfg = root
			}
			d := check(t, r, cfg, tt.role, updates...)
			got := d.Lines
			if tt.prefix && len(got) == len(tt.lines) {
				got = slices.Clone(got)
				for i, want := range tt.lines {
					if strings.HasPrefix(got[i], want) {
						got[i] = want
					}
				}
			}
			if diff := cmp.Diff(tt.lines, got); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
			if d.Accept != tt.accept {
				t.Errorf("accept = %v, want %v", d.Accept, tt.accept)
			}
			if d.Validated != tt.validated {
				t.Errorf("validated = %d, want %d", d.Validated, tt.validated)
			}
		})
	}
}

const (
	mainRef = "refs/heads/main"
)

func TestRepositoryBranch(t *testing.T) {
	runPushTests(t, []pushTest{
		{
			name: "fast-forward validates the changed package",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				old := r.Rev("main")
				return []revision.RefUpdate{upd(old, commit(r, gittest.Package("nginx", "2")), mainRef)}
			},
			role: store.RoleWrite, accept: true,
			lines:     []string{summary(1, 0, 0)},
			validated: 1,
		},
		{
			name: "a change outside packages validates nothing",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				old := r.Rev("main")
				return []revision.RefUpdate{upd(old, commit(r, map[string]string{"README.md": "hello\n"}), mainRef)}
			},
			role: store.RoleWrite, accept: true,
		},
		{
			name: "deleting a package validates nothing",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				old := r.Rev("main")
				return []revision.RefUpdate{upd(old, commit(r, nil, "redis"), mainRef)}
			},
			role: store.RoleWrite, accept: true,
		},
		{
			name: "deletion is refused even to admins",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{upd(r.Rev("main"), zero, mainRef)}
			},
			role:   store.RoleAdmin,
			lines:  []string{"pkgserver: refused refs/heads/main: the repository branch main cannot be deleted"},
			accept: false,
		},
		{
			name: "non-fast-forward by a writer",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				old := r.Rev("main")
				r.Write(gittest.Package("nginx", "2"))
				r.Git("commit", "-q", "--amend", "-m", "rewritten")
				return []revision.RefUpdate{upd(old, r.Rev("HEAD"), mainRef)}
			},
			role:  store.RoleWrite,
			lines: []string{"pkgserver: refused refs/heads/main: not a fast-forward: rewriting the repository branch takes the admin role (published revisions are commits of it)"},
		},
		{
			name: "non-fast-forward by an admin",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				old := r.Rev("main")
				r.Write(gittest.Package("nginx", "2"))
				r.Git("commit", "-q", "--amend", "-m", "rewritten")
				return []revision.RefUpdate{upd(old, r.Rev("HEAD"), mainRef)}
			},
			role: store.RoleAdmin, accept: true,
			lines:     []string{summary(1, 0, 0)},
			validated: 1,
		},
		{
			name: "policies changed by a writer",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				old := r.Rev("main")
				return []revision.RefUpdate{upd(old, commit(r, map[string]string{".pkgserver/policies/max.yaml": krmtest.MaxReplicasPolicy}), mainRef)}
			},
			role:  store.RoleWrite,
			lines: []string{"pkgserver: refused refs/heads/main: changing .pkgserver/policies takes the admin role"},
		},
		{
			name: "policies removed by a writer",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				onMain(r, map[string]string{".pkgserver/policies/max.yaml": krmtest.MaxReplicasPolicy})
				old := r.Rev("main")
				return []revision.RefUpdate{upd(old, commit(r, nil, ".pkgserver"), mainRef)}
			},
			role:  store.RoleWrite,
			lines: []string{"pkgserver: refused refs/heads/main: changing .pkgserver/policies takes the admin role"},
		},
		{
			name: "policies changed by an admin",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				old := r.Rev("main")
				return []revision.RefUpdate{upd(old, commit(r, map[string]string{".pkgserver/policies/max.yaml": krmtest.MaxReplicasPolicy}), mainRef)}
			},
			role: store.RoleAdmin, accept: true,
			lines: []string{summary(0, 0, 0)},
		},
		{
			name: "other files of .pkgserver are not policies",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				old := r.Rev("main")
				return []revision.RefUpdate{upd(old, commit(r, map[string]string{".pkgserver/notes.txt": "x\n"}), mainRef)}
			},
			role: store.RoleWrite, accept: true,
		},
		{
			name: "creating the branch validates every package",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				c := r.Rev("main")
				r.Git("update-ref", "-d", mainRef)
				return []revision.RefUpdate{upd(zero, c, mainRef)}
			},
			role: store.RoleWrite, accept: true,
			lines:     []string{summary(2, 0, 0)},
			validated: 2,
		},
		{
			// The first push of a repository brings its policies.
			name: "creating the branch with policies, writer",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				c := commit(r, map[string]string{".pkgserver/policies/max.yaml": krmtest.MaxReplicasPolicy})
				r.Git("update-ref", "-d", mainRef)
				return []revision.RefUpdate{upd(zero, c, mainRef)}
			},
			role: store.RoleWrite, accept: true,
			lines:     []string{summary(2, 0, 0)},
			validated: 2,
		},
		{
			name: "an invalid Deployment",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				old := r.Rev("main")
				return []revision.RefUpdate{upd(old, commit(r, map[string]string{"nginx/deployment.yaml": krmtest.Deployment(`"three"`, "nginx:1.27")}), mainRef)}
			},
			role: store.RoleAdmin,
			lines: []string{
				`nginx/deployment.yaml:6: error: spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string" [schema]`,
				summary(1, 1, 0),
				refusedValidation(1),
			},
			validated: 1,
		},
		{
			name: "warnings only",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				old := r.Rev("main")
				return []revision.RefUpdate{upd(old, commit(r, map[string]string{"nginx/deployment.yaml": krmtest.Deployment("3", "nginx:latest")}), mainRef)}
			},
			role: store.RoleWrite, accept: true,
			lines: []string{
				"nginx/deployment.yaml:1: warning: images must carry a tag other than :latest, or a digest: nginx:latest [policy/pkgserver-require-image-tag]",
				summary(1, 0, 1),
			},
			validated: 1,
		},
	})
}

func TestWorkspaceBranches(t *testing.T) {
	runPushTests(t, []pushTest{
		{
			name: "new draft holding its package",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{upd(zero, commit(r, gittest.Package("nginx", "2")), "refs/heads/drafts/nginx/ws1")}
			},
			role: store.RoleWrite, accept: true,
			lines:     []string{summary(1, 0, 0)},
			validated: 1,
		},
		{
			name: "new draft of a new package",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{upd(zero, commit(r, gittest.Package("team/app", "1")), "refs/heads/drafts/team/app/ws1")}
			},
			role: store.RoleWrite, accept: true,
			lines:     []string{summary(1, 0, 0)},
			validated: 1,
		},
		{
			name: "new proposal holding its package",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{upd(zero, r.Rev("main"), "refs/heads/proposed/redis/ws1")}
			},
			role: store.RoleWrite, accept: true,
			lines:     []string{summary(1, 0, 0)},
			validated: 1,
		},
		{
			name: "draft without the package",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{upd(zero, r.Rev("main"), "refs/heads/drafts/postgres/ws1")}
			},
			role:  store.RoleAdmin,
			lines: []string{"pkgserver: refused refs/heads/drafts/postgres/ws1: the branch names package postgres, but its commit has no postgres/Kptfile"},
		},
		{
			name: "proposal whose package lost its Kptfile",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{upd(zero, commit(r, nil, "nginx/Kptfile"), "refs/heads/proposed/nginx/ws1")}
			},
			role:  store.RoleAdmin,
			lines: []string{"pkgserver: refused refs/heads/proposed/nginx/ws1: the branch names package nginx, but its commit has no nginx/Kptfile"},
		},
		{
			name: "draft update that leaves the package as it was",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				old := commit(r, gittest.Package("nginx", "2"))
				r.Git("update-ref", "refs/heads/drafts/nginx/ws1", old)
				return []revision.RefUpdate{upd(old, commit(r, map[string]string{"redis/config.yaml": "not: [valid"}), "refs/heads/drafts/nginx/ws1")}
			},
			role: store.RoleWrite, accept: true,
		},
		{
			name: "draft update that changes the package",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				old := commit(r, gittest.Package("nginx", "2"))
				r.Git("update-ref", "refs/heads/drafts/nginx/ws1", old)
				return []revision.RefUpdate{upd(old, commit(r, gittest.Package("nginx", "3")), "refs/heads/drafts/nginx/ws1")}
			},
			role: store.RoleWrite, accept: true,
			lines:     []string{summary(1, 0, 0)},
			validated: 1,
		},
		{
			name: "draft with an invalid package",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				c := commit(r, map[string]string{"nginx/deployment.yaml": krmtest.Deployment(`"three"`, "nginx:1.27")})
				return []revision.RefUpdate{upd(zero, c, "refs/heads/drafts/nginx/ws1")}
			},
			role: store.RoleAdmin,
			lines: []string{
				`nginx/deployment.yaml:6: error: spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string" [schema]`,
				summary(1, 1, 0),
				refusedValidation(1),
			},
			validated: 1,
		},
		{
			name: "one invalid package refuses the whole push",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				good := commit(r, gittest.Package("redis", "2"))
				bad := commit(r, map[string]string{"nginx/deployment.yaml": krmtest.Deployment(`"three"`, "nginx:1.27")})
				return []revision.RefUpdate{
					upd(zero, good, "refs/heads/drafts/redis/ws1"),
					upd(zero, bad, "refs/heads/drafts/nginx/ws1"),
				}
			},
			role: store.RoleAdmin,
			lines: []string{
				`nginx/deployment.yaml:6: error: spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string" [schema]`,
				summary(2, 1, 0),
				refusedValidation(1),
			},
			validated: 2,
		},
		{
			name: "deleting a draft",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				c := commit(r, gittest.Package("nginx", "2"))
				r.Git("update-ref", "refs/heads/drafts/nginx/ws1", c)
				return []revision.RefUpdate{upd(c, zero, "refs/heads/drafts/nginx/ws1")}
			},
			role: store.RoleWrite, accept: true,
		},
	})
}

func TestMalformedRefs(t *testing.T) {
	runPushTests(t, []pushTest{
		{
			name: "draft without a workspace",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{upd(zero, r.Rev("main"), "refs/heads/drafts/nginx")}
			},
			role:  store.RoleAdmin,
			lines: []string{"pkgserver: refused refs/heads/drafts/nginx: expected <package>/<workspace> after the prefix"},
		},
		{
			name: "workspace that is not a label",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{upd(zero, r.Rev("main"), "refs/heads/proposed/nginx/My_WS")}
			},
			role:  store.RoleAdmin,
			lines: []string{`pkgserver: refused refs/heads/proposed/nginx/My_WS: workspace "My_WS" is not an RFC 1123 label (lower-case letters, digits and '-')`},
		},
		{
			name: "package path that is not a label",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{upd(zero, r.Rev("main"), "refs/heads/drafts/Nginx/ws1")}
			},
			role:  store.RoleAdmin,
			lines: []string{`pkgserver: refused refs/heads/drafts/Nginx/ws1: package path "Nginx": segment "Nginx" is not an RFC 1123 label (lower-case letters, digits and '-')`},
		},
		{
			name: "deletion proposal without a revision number",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{upd(zero, r.Rev("main"), "refs/heads/deletionProposed/nginx/latest")}
			},
			role:  store.RoleAdmin,
			lines: []string{`pkgserver: refused refs/heads/deletionProposed/nginx/latest: a deletion proposal names a revision v<N>, not "latest"`},
		},
		{
			name: "ref name git would not accept",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{upd(zero, r.Rev("main"), "refs/heads/a..b")}
			},
			role:  store.RoleAdmin,
			lines: []string{`pkgserver: refused refs/heads/a..b: ref name "refs/heads/a..b" must not contain ".."`},
		},
		{
			name: "a malformed ref refuses the well-formed ones too",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{
					upd(zero, commit(r, gittest.Package("nginx", "2")), "refs/heads/drafts/nginx/ws1"),
					upd(zero, r.Rev("main"), "refs/heads/drafts/nginx"),
				}
			},
			role: store.RoleAdmin,
			lines: []string{
				"pkgserver: refused refs/heads/drafts/nginx/ws1: refs/heads/drafts/nginx, pushed with it, would be its directory",
				"pkgserver: refused refs/heads/drafts/nginx: expected <package>/<workspace> after the prefix",
			},
		},
		{
			name: "refs outside the contract pass",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{
					upd(zero, r.Rev("main"), "refs/tags/release-1"),
					upd(zero, r.Rev("main"), "refs/notes/commits"),
				}
			},
			role: store.RoleWrite, accept: true,
		},
	})
}

func TestTags(t *testing.T) {
	runPushTests(t, []pushTest{
		{
			name: "next revision on the branch",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				c := onMain(r, gittest.Package("nginx", "2"))
				return []revision.RefUpdate{upd(zero, c, "refs/tags/nginx/v2")}
			},
			role: store.RoleWrite, accept: true,
			lines:     []string{summary(1, 0, 0)},
			validated: 1,
		},
		{
			name: "first revision of a package",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{upd(zero, r.Rev("main"), "refs/tags/redis/v1")}
			},
			role: store.RoleWrite, accept: true,
			lines:     []string{summary(1, 0, 0)},
			validated: 1,
		},
		{
			name: "a slash-named tag that names no package is not a revision",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				r.Tag("release/2024-01", r.Rev("main"), "")
				c := onMain(r, gittest.Package("nginx", "2"))
				return []revision.RefUpdate{
					upd(zero, r.Rev("main"), "refs/tags/release/2024-02"),
					upd(r.Rev("main"), c, "refs/tags/release/2024-01"),
				}
			},
			role: store.RoleWrite, accept: true,
		},
		{
			name: "a first revision must be v1",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{upd(zero, r.Rev("main"), "refs/tags/redis/v2")}
			},
			role:  store.RoleAdmin,
			lines: []string{"pkgserver: refused refs/tags/redis/v2: the next revision of redis is v1, not v2"},
		},
		{
			name: "skipping a number",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				c := onMain(r, gittest.Package("nginx", "3"))
				return []revision.RefUpdate{upd(zero, c, "refs/tags/nginx/v3")}
			},
			role:  store.RoleAdmin,
			lines: []string{"pkgserver: refused refs/tags/nginx/v3: the next revision of nginx is v2, not v3"},
		},
		{
			name: "two consecutive revisions in one push",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				c2 := onMain(r, gittest.Package("nginx", "2"))
				c3 := onMain(r, gittest.Package("nginx", "3"))
				// In the order git sends them, not sorted.
				return []revision.RefUpdate{upd(zero, c3, "refs/tags/nginx/v3"), upd(zero, c2, "refs/tags/nginx/v2")}
			},
			role: store.RoleWrite, accept: true,
			lines:     []string{summary(2, 0, 0)},
			validated: 2,
		},
		{
			name: "two revisions with a gap in one push",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				c2 := onMain(r, gittest.Package("nginx", "2"))
				c4 := onMain(r, gittest.Package("nginx", "4"))
				return []revision.RefUpdate{upd(zero, c2, "refs/tags/nginx/v2"), upd(zero, c4, "refs/tags/nginx/v4")}
			},
			role:  store.RoleAdmin,
			lines: []string{"pkgserver: refused refs/tags/nginx/v4: the next revision of nginx is v3, not v4"},
		},
		{
			name: "a package holding a subpackage is published with it",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				c := onMain(r, gittest.Package("nginx/sub", "1"))
				return []revision.RefUpdate{upd(zero, c, "refs/tags/nginx/v2")}
			},
			role: store.RoleWrite, accept: true,
			lines:     []string{summary(1, 0, 0)},
			validated: 1,
		},
		{
			name: "a tag naming a subpackage is refused",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				c := onMain(r, gittest.Package("nginx/sub", "1"))
				return []revision.RefUpdate{upd(zero, c, "refs/tags/nginx/sub/v1")}
			},
			role: store.RoleWrite,
			lines: []string{"pkgserver: refused refs/tags/nginx/sub/v1: nginx/sub is a subpackage of nginx at this commit: " +
				"content of that package, not a package of its own"},
		},
		{
			name: "tags of nested packages are numbered apart",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				// A package cannot hold another: nginx/sub lives on a commit
				// of its own.
				sub := commit(r, gittest.Package("nginx/sub", "1"))
				r.Tag("nginx/sub/v1", sub, "")
				r.Tag("nginx/sub/v2", sub, "")
				r.Checkout("--detach", "main")
				c := onMain(r, gittest.Package("nginx", "2"))
				return []revision.RefUpdate{upd(zero, c, "refs/tags/nginx/v2")}
			},
			role: store.RoleWrite, accept: true,
			lines:     []string{summary(1, 0, 0)},
			validated: 1,
		},
		{
			name: "tags of other shapes do not count",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				c := onMain(r, gittest.Package("nginx", "2"))
				r.Tag("nginx/v9.0.0", c, "")
				r.Tag("nginx/latest", c, "")
				return []revision.RefUpdate{upd(zero, c, "refs/tags/nginx/v2")}
			},
			role: store.RoleWrite, accept: true,
			lines:     []string{summary(1, 0, 0)},
			validated: 1,
		},
		{
			name: "a tag of another shape is validated",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{upd(zero, r.Rev("main"), "refs/tags/redis/latest")}
			},
			role: store.RoleWrite, accept: true,
			lines:     []string{summary(1, 0, 0)},
			validated: 1,
		},
		{
			name: "annotated tag",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				c := onMain(r, gittest.Package("nginx", "2"))
				r.Tag("scratch", c, "nginx v2")
				tag := r.Rev("scratch")
				r.Git("tag", "-d", "scratch")
				return []revision.RefUpdate{upd(zero, tag, "refs/tags/nginx/v2")}
			},
			role: store.RoleWrite, accept: true,
			lines:     []string{summary(1, 0, 0)},
			validated: 1,
		},
		{
			name: "existing annotated tags are counted",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				c := onMain(r, gittest.Package("nginx", "2"))
				r.Tag("nginx/v2", c, "annotated")
				return []revision.RefUpdate{upd(zero, c, "refs/tags/nginx/v2")}
			},
			role:  store.RoleAdmin,
			lines: []string{"pkgserver: refused refs/tags/nginx/v2: the next revision of nginx is v3, not v2"},
		},
		{
			name: "commit not on the branch",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{upd(zero, commit(r, gittest.Package("nginx", "2")), "refs/tags/nginx/v2")}
			},
			role:  store.RoleAdmin,
			lines: []string{"pkgserver: refused refs/tags/nginx/v2: a published revision is a commit of the repository branch main; push the commit to main first (or with the tag)"},
		},
		{
			name: "annotated tag of a commit not on the branch",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				c := commit(r, gittest.Package("nginx", "2"))
				r.Tag("scratch", c, "nginx v2")
				return []revision.RefUpdate{upd(zero, r.Rev("scratch"), "refs/tags/nginx/v2")}
			},
			role:  store.RoleAdmin,
			lines: []string{"pkgserver: refused refs/tags/nginx/v2: a published revision is a commit of the repository branch main; push the commit to main first (or with the tag)"},
		},
		{
			name: "commit pushed to the branch with the tag",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				old := r.Rev("main")
				c := commit(r, gittest.Package("nginx", "2"))
				return []revision.RefUpdate{upd(old, c, mainRef), upd(zero, c, "refs/tags/nginx/v2")}
			},
			role: store.RoleWrite, accept: true,
			// The same tree on the branch and the tag is validated once.
			lines:     []string{summary(1, 0, 0)},
			validated: 1,
		},
		{
			name: "tagged commit without the package",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				c := onMain(r, nil, "redis")
				return []revision.RefUpdate{upd(zero, c, "refs/tags/redis/v1")}
			},
			role:  store.RoleAdmin,
			lines: []string{"pkgserver: refused refs/tags/redis/v1: the tagged commit has no package redis (no redis/Kptfile)"},
		},
		{
			name: "tag of a tree",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{upd(zero, r.Rev("main^{tree}"), "refs/tags/nginx/v2")}
			},
			role:  store.RoleAdmin,
			lines: []string{"pkgserver: refused refs/tags/nginx/v2: a published revision must point at a commit, not a tree"},
		},
		{
			name: "tagged package is invalid",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				c := onMain(r, map[string]string{"nginx/deployment.yaml": krmtest.Deployment(`"three"`, "nginx:1.27")})
				return []revision.RefUpdate{upd(zero, c, "refs/tags/nginx/v2")}
			},
			role: store.RoleAdmin,
			lines: []string{
				`nginx/deployment.yaml:6: error: spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string" [schema]`,
				summary(1, 1, 0),
				refusedValidation(1),
			},
			validated: 1,
		},
		{
			name: "moving a tag, writer",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				c := onMain(r, gittest.Package("nginx", "2"))
				return []revision.RefUpdate{upd(r.Rev("nginx/v1"), c, "refs/tags/nginx/v1")}
			},
			role:  store.RoleWrite,
			lines: []string{"pkgserver: refused refs/tags/nginx/v1: published revisions are immutable: the tag cannot be moved"},
		},
		{
			name: "moving a tag, admin",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				c := onMain(r, gittest.Package("nginx", "2"))
				return []revision.RefUpdate{upd(r.Rev("nginx/v1"), c, "refs/tags/nginx/v1")}
			},
			role: store.RoleAdmin, accept: true,
			lines:     []string{summary(1, 0, 0), "pkgserver: warning: refs/tags/nginx/v1 moved by an admin"},
			validated: 1,
		},
		{
			name: "moving a tag off the branch, admin",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				c := commit(r, gittest.Package("nginx", "2"))
				return []revision.RefUpdate{upd(r.Rev("nginx/v1"), c, "refs/tags/nginx/v1")}
			},
			role: store.RoleAdmin,
			lines: []string{
				"pkgserver: warning: refs/tags/nginx/v1 moved by an admin",
				"pkgserver: refused refs/tags/nginx/v1: a published revision is a commit of the repository branch main; push the commit to main first (or with the tag)",
			},
		},
		{
			name: "deleting a tag, writer",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{upd(r.Rev("nginx/v1"), zero, "refs/tags/nginx/v1")}
			},
			role:  store.RoleWrite,
			lines: []string{"pkgserver: refused refs/tags/nginx/v1: published revisions are deleted only by admins, by approving a deletion proposal"},
		},
		{
			name: "deleting a tag, admin",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{upd(r.Rev("nginx/v1"), zero, "refs/tags/nginx/v1")}
			},
			role: store.RoleAdmin, accept: true,
		},
		{
			name: "tag while the branch is deleted",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{upd(r.Rev("main"), zero, mainRef), upd(zero, r.Rev("main"), "refs/tags/redis/v1")}
			},
			role: store.RoleAdmin,
			lines: []string{
				"pkgserver: refused refs/heads/main: the repository branch main cannot be deleted",
				"pkgserver: refused refs/tags/redis/v1: the repository branch main does not exist",
			},
		},
	})
}

func TestDeletionProposals(t *testing.T) {
	runPushTests(t, []pushTest{
		{
			name: "of a published revision",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{upd(zero, r.Rev("main"), "refs/heads/deletionProposed/nginx/v1")}
			},
			role: store.RoleWrite, accept: true,
		},
		{
			name: "of an annotated published revision",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				r.Tag("redis/v1", "main", "redis v1")
				return []revision.RefUpdate{upd(zero, r.Rev("main"), "refs/heads/deletionProposed/redis/v1")}
			},
			role: store.RoleWrite, accept: true,
		},
		{
			name: "of a revision that does not exist",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{upd(zero, r.Rev("main"), "refs/heads/deletionProposed/nginx/v2")}
			},
			role:  store.RoleAdmin,
			lines: []string{"pkgserver: refused refs/heads/deletionProposed/nginx/v2: proposes deleting nginx/v2, which is not published"},
		},
		{
			name: "of a package never published",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{upd(zero, r.Rev("main"), "refs/heads/deletionProposed/redis/v1")}
			},
			role:  store.RoleAdmin,
			lines: []string{"pkgserver: refused refs/heads/deletionProposed/redis/v1: proposes deleting redis/v1, which is not published"},
		},
		{
			name: "of a revision published by the same push",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				c := onMain(r, gittest.Package("nginx", "2"))
				return []revision.RefUpdate{
					upd(zero, c, "refs/heads/deletionProposed/nginx/v2"),
					upd(zero, c, "refs/tags/nginx/v2"),
				}
			},
			role: store.RoleWrite, accept: true,
			lines:     []string{summary(1, 0, 0)},
			validated: 1,
		},
		{
			name: "of a revision deleted by the same push",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{
					upd(r.Rev("nginx/v1"), zero, "refs/tags/nginx/v1"),
					upd(zero, r.Rev("main"), "refs/heads/deletionProposed/nginx/v1"),
				}
			},
			role:  store.RoleAdmin,
			lines: []string{"pkgserver: refused refs/heads/deletionProposed/nginx/v1: proposes deleting nginx/v1, which is not published"},
		},
		{
			name: "withdrawn",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				r.Git("update-ref", "refs/heads/deletionProposed/nginx/v1", r.Rev("main"))
				return []revision.RefUpdate{upd(r.Rev("main"), zero, "refs/heads/deletionProposed/nginx/v1")}
			},
			role: store.RoleWrite, accept: true,
		},
	})
}

func TestOtherBranches(t *testing.T) {
	runPushTests(t, []pushTest{
		{
			name: "new branch validates what it changes from the repository branch",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{upd(zero, commit(r, gittest.Package("redis", "2")), "refs/heads/feature")}
			},
			role: store.RoleWrite, accept: true,
			lines:     []string{summary(1, 0, 0)},
			validated: 1,
		},
		{
			name: "new branch at the repository branch validates nothing",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{upd(zero, r.Rev("main"), "refs/heads/feature")}
			},
			role: store.RoleWrite, accept: true,
		},
		{
			name: "new branch from an older commit of the repository branch",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				base := r.Rev("main")
				onMain(r, gittest.Package("nginx", "2"))
				r.Checkout("--detach", base)
				return []revision.RefUpdate{upd(zero, commit(r, gittest.Package("redis", "2")), "refs/heads/feature")}
			},
			role: store.RoleWrite, accept: true,
			lines:     []string{summary(1, 0, 0)},
			validated: 1,
		},
		{
			name: "new branch with an invalid package",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				c := commit(r, map[string]string{"redis/deployment.yaml": krmtest.Deployment(`"three"`, "nginx:1.27")})
				return []revision.RefUpdate{upd(zero, c, "refs/heads/feature")}
			},
			role: store.RoleAdmin,
			lines: []string{
				`redis/deployment.yaml:6: error: spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string" [schema]`,
				summary(1, 1, 0),
				refusedValidation(1),
			},
			validated: 1,
		},
		{
			name: "new branch with no history in common",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				r.Checkout("--orphan", "scratch")
				r.Git("rm", "-r", "-q", "--cached", ".")
				c := commit(r, gittest.Package("postgres", "1"))
				r.Checkout("--detach")
				r.Git("branch", "-D", "scratch")
				return []revision.RefUpdate{upd(zero, c, "refs/heads/feature")}
			},
			role: store.RoleWrite, accept: true,
			lines:     []string{summary(1, 0, 0)},
			validated: 1,
		},
		{
			name: "update validates what changed since the old commit",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				old := commit(r, gittest.Package("redis", "2"))
				r.Git("update-ref", "refs/heads/feature", old)
				return []revision.RefUpdate{upd(old, commit(r, gittest.Package("nginx", "2")), "refs/heads/feature")}
			},
			role: store.RoleWrite, accept: true,
			lines:     []string{summary(1, 0, 0)},
			validated: 1,
		},
		{
			name: "deleting a branch",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				r.Git("update-ref", "refs/heads/feature", r.Rev("main"))
				return []revision.RefUpdate{upd(r.Rev("main"), zero, "refs/heads/feature")}
			},
			role: store.RoleWrite, accept: true,
		},
	})
}

// blueprints is the configuration of a repository whose packages are under
// blueprints/.
var blueprints = revision.Config{Repository: "r", Directory: "blueprints/", Branch: "main"}

func TestDirectory(t *testing.T) {
	invalid := map[string]string{"other/deployment.yaml": krmtest.Deployment(`"three"`, "nginx:1.27")}
	runPushTests(t, []pushTest{
		{
			name: "a draft of a package in the directory",
			cfg:  blueprints,
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{upd(zero, commit(r, gittest.Package("blueprints/web", "1")), "refs/heads/drafts/blueprints/web/ws1")}
			},
			role: store.RoleWrite, accept: true,
			lines:     []string{summary(1, 0, 0)},
			validated: 1,
		},
		{
			name: "a draft of the directory without its package",
			cfg:  blueprints,
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				// nginx/ is at the root, outside the directory.
				return []revision.RefUpdate{upd(zero, r.Rev("main"), "refs/heads/drafts/blueprints/nginx/ws1")}
			},
			role:  store.RoleAdmin,
			lines: []string{"pkgserver: refused refs/heads/drafts/blueprints/nginx/ws1: the branch names package blueprints/nginx, but its commit has no blueprints/nginx/Kptfile"},
		},
		{
			name: "a draft outside the directory is another branch",
			cfg:  blueprints,
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{upd(zero, commit(r, invalid), "refs/heads/drafts/other/ws1")}
			},
			role: store.RoleWrite, accept: true,
		},
		{
			name: "tags outside the directory are not published revisions",
			cfg:  blueprints,
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				c := commit(r, invalid)
				return []revision.RefUpdate{
					upd(zero, c, "refs/tags/nginx/v7"),
					upd(r.Rev("nginx/v1"), zero, "refs/tags/nginx/v1"),
					upd(zero, c, "refs/heads/deletionProposed/redis/v3"),
				}
			},
			role: store.RoleWrite, accept: true,
		},
		{
			name: "the repository branch validates the directory only",
			cfg:  blueprints,
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				old := r.Rev("main")
				files := gittest.Package("blueprints/web", "1")
				files["other/deployment.yaml"] = invalid["other/deployment.yaml"]
				files["nginx/deployment.yaml"] = invalid["other/deployment.yaml"]
				return []revision.RefUpdate{upd(old, commit(r, files), mainRef)}
			},
			role: store.RoleWrite, accept: true,
			lines:     []string{summary(1, 0, 0)},
			validated: 1,
		},
		{
			name: "tags of the directory are numbered",
			cfg:  blueprints,
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				c := onMain(r, gittest.Package("blueprints/web", "1"))
				return []revision.RefUpdate{upd(zero, c, "refs/tags/blueprints/web/v1"), upd(zero, c, "refs/tags/blueprints/web/v3")}
			},
			role:  store.RoleAdmin,
			lines: []string{"pkgserver: refused refs/tags/blueprints/web/v3: the next revision of blueprints/web is v2, not v3"},
		},
		{
			name: "a deletion proposal in the directory",
			cfg:  blueprints,
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				c := onMain(r, gittest.Package("blueprints/web", "1"))
				r.Tag("blueprints/web/v1", c, "")
				return []revision.RefUpdate{upd(zero, c, "refs/heads/deletionProposed/blueprints/web/v1")}
			},
			role: store.RoleWrite, accept: true,
		},
		{
			name: "findings name files from the repository root",
			cfg:  blueprints,
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				onMain(r, map[string]string{".pkgserver/policies/max-replicas.yaml": krmtest.MaxReplicasPolicy})
				files := gittest.Package("blueprints/web", "1")
				files["blueprints/web/deployment.yaml"] = krmtest.Deployment("10", "nginx:1.27")
				return []revision.RefUpdate{upd(zero, commit(r, files), "refs/heads/drafts/blueprints/web/ws1")}
			},
			role: store.RoleAdmin,
			lines: []string{
				"blueprints/web/deployment.yaml:1: error: at most 5 replicas, not 10 [policy/max-replicas]",
				summary(1, 1, 0),
				refusedValidation(1),
			},
			validated: 1,
		},
		{
			name: "a deletion proposal in the directory of a revision not published",
			cfg:  blueprints,
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{upd(zero, r.Rev("main"), "refs/heads/deletionProposed/blueprints/web/v1")}
			},
			role:  store.RoleAdmin,
			lines: []string{"pkgserver: refused refs/heads/deletionProposed/blueprints/web/v1: proposes deleting blueprints/web/v1, which is not published"},
		},
	})
}

func TestRepositoryPolicies(t *testing.T) {
	withPolicy := func(r *gittest.Repo) {
		onMain(r, map[string]string{".pkgserver/policies/max-replicas.yaml": krmtest.MaxReplicasPolicy})
	}
	// The rest of the line is cel-go's.
	const brokenLine = `pkgserver: policies: .pkgserver/policies/broken.yaml:1: ValidatingAdmissionPolicy "broken": spec.validations[0].expression: compilation failed: `
	const denied = "nginx/deployment.yaml:1: error: at most 5 replicas, not 10 [policy/max-replicas]"
	runPushTests(t, []pushTest{
		{
			name: "a draft breaking the branch's policy",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				withPolicy(r)
				c := commit(r, map[string]string{"nginx/deployment.yaml": krmtest.Deployment("10", "nginx:1.27")})
				return []revision.RefUpdate{upd(zero, c, "refs/heads/drafts/nginx/ws1")}
			},
			role:      store.RoleAdmin,
			lines:     []string{denied, summary(1, 1, 0), refusedValidation(1)},
			validated: 1,
		},
		{
			name: "a draft keeping the branch's policy",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				withPolicy(r)
				c := commit(r, map[string]string{"nginx/deployment.yaml": krmtest.Deployment("5", "nginx:1.27")})
				return []revision.RefUpdate{upd(zero, c, "refs/heads/drafts/nginx/ws1")}
			},
			role: store.RoleWrite, accept: true,
			lines:     []string{summary(1, 0, 0)},
			validated: 1,
		},
		{
			name: "a policy pushed with a package breaking it",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				old := r.Rev("main")
				c := commit(r, map[string]string{
					".pkgserver/policies/max-replicas.yaml": krmtest.MaxReplicasPolicy,
					"nginx/deployment.yaml":                 krmtest.Deployment("10", "nginx:1.27"),
				})
				return []revision.RefUpdate{upd(old, c, mainRef)}
			},
			role:      store.RoleAdmin,
			lines:     []string{denied, summary(1, 1, 0), refusedValidation(1)},
			validated: 1,
		},
		{
			name: "a policy removed with a package breaking it",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				withPolicy(r)
				old := r.Rev("main")
				r.Remove(".pkgserver")
				c := commit(r, map[string]string{"nginx/deployment.yaml": krmtest.Deployment("10", "nginx:1.27")})
				return []revision.RefUpdate{upd(old, c, mainRef)}
			},
			role: store.RoleAdmin, accept: true,
			lines:     []string{summary(1, 0, 0)},
			validated: 1,
		},
		{
			name: "other branches are judged by the repository branch's policies",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				c := commit(r, map[string]string{
					".pkgserver/policies/max-replicas.yaml": krmtest.MaxReplicasPolicy,
					"nginx/deployment.yaml":                 krmtest.Deployment("10", "nginx:1.27"),
				})
				return []revision.RefUpdate{upd(zero, c, "refs/heads/feature")}
			},
			role: store.RoleWrite, accept: true,
			lines:     []string{summary(1, 0, 0)},
			validated: 1,
		},
		{
			name: "a broken policy pushed with a package",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				old := r.Rev("main")
				c := commit(r, map[string]string{
					".pkgserver/policies/broken.yaml": brokenPolicy,
					"nginx/deployment.yaml":           krmtest.Deployment("3", "nginx:1.27"),
				})
				return []revision.RefUpdate{upd(old, c, mainRef)}
			},
			role:  store.RoleAdmin,
			lines: []string{brokenLine, refusedValidation(1)}, prefix: true,
		},
		{
			name: "a broken policy pushed alone",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				old := r.Rev("main")
				c := commit(r, map[string]string{".pkgserver/policies/broken.yaml": brokenPolicy})
				return []revision.RefUpdate{upd(old, c, mainRef)}
			},
			role:  store.RoleAdmin,
			lines: []string{brokenLine, refusedValidation(1)}, prefix: true,
		},
		{
			name: "a broken policy in the branch created",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				r.Remove("nginx", "redis")
				c := commit(r, map[string]string{".pkgserver/policies/broken.yaml": brokenPolicy})
				r.Git("update-ref", "-d", mainRef)
				return []revision.RefUpdate{upd(zero, c, mainRef)}
			},
			role:  store.RoleWrite,
			lines: []string{brokenLine, refusedValidation(1)}, prefix: true,
		},
		{
			name: "a broken policy on the branch refuses drafts",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				onMain(r, map[string]string{".pkgserver/policies/broken.yaml": brokenPolicy})
				return []revision.RefUpdate{upd(zero, commit(r, gittest.Package("nginx", "2")), "refs/heads/drafts/nginx/ws1")}
			},
			role:  store.RoleAdmin,
			lines: []string{brokenLine, refusedValidation(1)}, prefix: true,
		},
		{
			name: "a broken policy fixed",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				old := onMain(r, map[string]string{".pkgserver/policies/broken.yaml": brokenPolicy})
				r.Remove(".pkgserver/policies/broken.yaml")
				c := commit(r, map[string]string{"nginx/deployment.yaml": krmtest.Deployment("3", "nginx:1.27")})
				return []revision.RefUpdate{upd(old, c, mainRef)}
			},
			role: store.RoleAdmin, accept: true,
			lines:     []string{summary(1, 0, 0)},
			validated: 1,
		},
		{
			name: "a published revision is compared with the previous one",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				onMain(r, map[string]string{".pkgserver/policies/no-shrink.yaml": noShrink, "redis/deployment.yaml": krmtest.Deployment("3", "redis:7")})
				r.Tag("redis/v1", "main", "")
				c := onMain(r, map[string]string{"redis/deployment.yaml": krmtest.Deployment("2", "redis:7")})
				return []revision.RefUpdate{upd(zero, c, "refs/tags/redis/v2")}
			},
			role:      store.RoleAdmin,
			lines:     []string{"redis/deployment.yaml:1: error: replicas went down from 3 [policy/no-shrink]", summary(1, 1, 0), refusedValidation(1)},
			validated: 1,
		},
		{
			name: "revisions published together are compared in turn",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				onMain(r, map[string]string{".pkgserver/policies/no-shrink.yaml": noShrink, "redis/deployment.yaml": krmtest.Deployment("3", "redis:7")})
				r.Tag("redis/v1", "main", "")
				c2 := onMain(r, map[string]string{"redis/deployment.yaml": krmtest.Deployment("4", "redis:7")})
				c3 := onMain(r, map[string]string{"redis/deployment.yaml": krmtest.Deployment("2", "redis:7")})
				return []revision.RefUpdate{upd(zero, c2, "refs/tags/redis/v2"), upd(zero, c3, "refs/tags/redis/v3")}
			},
			role:      store.RoleAdmin,
			lines:     []string{"redis/deployment.yaml:1: error: replicas went down from 4 [policy/no-shrink]", summary(2, 1, 0), refusedValidation(1)},
			validated: 2,
		},
	})
}

// TestWorkIsProportional checks that a push is judged by what it changes:
// one package changed among fifty is one package validated.
func TestWorkIsProportional(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{"", "blueprints"} {
		t.Run("directory="+dir, func(t *testing.T) {
			t.Parallel()
			cfg := revision.Config{Repository: "r", Directory: dir, Branch: "main"}
			full := cfg.Full
			r := gittest.New(t)
			for i := range 50 {
				for name, content := range gittest.Package(full(fmt.Sprintf("pkg%02d", i)), "1") {
					path := filepath.Join(r.Dir, name)
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			r.Git("add", "-A")
			base := r.Commit("fifty packages")
			r.Tag(full("pkg17")+"/v1", base, "")
			r.Checkout("--detach")
			one := commit(r, gittest.Package(full("pkg17"), "2"))
			r.Checkout("--detach", base)
			three := commit(r, merge(gittest.Package(full("pkg01"), "2"), gittest.Package(full("pkg02"), "2"), gittest.Package(full("pkg03"), "2")))

			tests := []struct {
				name      string
				updates   []revision.RefUpdate
				validated int
			}{
				{"repository branch, one package changed", []revision.RefUpdate{upd(base, one, mainRef)}, 1},
				{"repository branch, three packages changed", []revision.RefUpdate{upd(base, three, mainRef)}, 3},
				{"new branch from the repository branch", []revision.RefUpdate{upd(zero, one, "refs/heads/feature")}, 1},
				{"branch updated", []revision.RefUpdate{upd(one, three, "refs/heads/feature")}, 4},
				{"new branch, nothing changed", []revision.RefUpdate{upd(zero, base, "refs/heads/feature")}, 0},
				{"draft", []revision.RefUpdate{upd(zero, one, "refs/heads/drafts/"+full("pkg17")+"/ws")}, 1},
				{"repository branch and tag", []revision.RefUpdate{upd(base, one, mainRef), upd(zero, one, "refs/tags/"+full("pkg17")+"/v2")}, 1},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					d := check(t, r, cfg, store.RoleWrite, tt.updates...)
					if !d.Accept || d.Validated != tt.validated {
						t.Errorf("accept %v, validated %d, want true, %d; lines %q", d.Accept, d.Validated, tt.validated, d.Lines)
					}
				})
			}
		})
	}
}

func merge(maps ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// TestManyTags: past a few packages, the tags of the whole repository are
// listed once instead of per package; the rules come out the same.
func TestManyTags(t *testing.T) {
	many := func(r *gittest.Repo) (string, []revision.RefUpdate) {
		files := map[string]string{}
		for i := range 12 {
			for p, c := range gittest.Package(fmt.Sprintf("app%02d", i), "1") {
				files[p] = c
			}
		}
		for p, c := range gittest.Package("nginx", "2") {
			files[p] = c
		}
		c := commit(r, files)
		updates := []revision.RefUpdate{upd(r.Rev("main"), c, "refs/heads/main")}
		for i := range 12 {
			updates = append(updates, upd(zero, c, fmt.Sprintf("refs/tags/app%02d/v1", i)))
		}
		return c, updates
	}
	runPushTests(t, []pushTest{
		{
			name: "thirteen packages published at once",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				c, updates := many(r)
				return append(updates, upd(zero, c, "refs/tags/nginx/v2"))
			},
			role: store.RoleWrite, accept: true,
			lines:     []string{summary(13, 0, 0)},
			validated: 13,
		},
		{
			name: "one of many skips a number",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				c, updates := many(r)
				return append(updates, upd(zero, c, "refs/tags/nginx/v3"), upd(zero, c, "refs/heads/deletionProposed/nginx/v1"))
			},
			role:  store.RoleWrite,
			lines: []string{"pkgserver: refused refs/tags/nginx/v3: the next revision of nginx is v2, not v3"},
		},
	})
}

// TestPartialPushes: pushes git would apply only in part are refused, so
// that what the rules checked is what lands.
func TestPartialPushes(t *testing.T) {
	runPushTests(t, []pushTest{
		{
			name: "the repository branch twice",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				main := r.Rev("main")
				b := commit(r, gittest.Package("nginx", "2"))
				r.Checkout("-q", "--detach", main)
				c := commit(r, gittest.Package("nginx", "3"))
				return []revision.RefUpdate{upd(main, b, "refs/heads/main"), upd(main, c, "refs/heads/main"), upd(zero, c, "refs/tags/nginx/v2")}
			},
			role:  store.RoleWrite,
			lines: []string{"pkgserver: refused refs/heads/main: the ref is updated twice in one push"},
		},
		{
			name: "a tag below the next revision, pushed with it",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				c := onMain(r, gittest.Package("nginx", "2"))
				return []revision.RefUpdate{upd(zero, c, "refs/tags/nginx/v2/x"), upd(zero, c, "refs/tags/nginx/v2"), upd(zero, c, "refs/tags/nginx/v3")}
			},
			role: store.RoleWrite,
			lines: []string{
				"pkgserver: refused refs/tags/nginx/v2/x: refs/tags/nginx/v2, pushed with it, would be its directory",
				"pkgserver: refused refs/tags/nginx/v2/x: a tag's package path must not have a segment like a revision (v<N>)",
			},
		},
		{
			name: "a tag below the next revision, pushed before it",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{upd(zero, r.Rev("main"), "refs/tags/nginx/v2/x")}
			},
			role:  store.RoleWrite,
			lines: []string{"pkgserver: refused refs/tags/nginx/v2/x: a tag's package path must not have a segment like a revision (v<N>)"},
		},
		{
			name: "the next revision when a ref exists below it",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				r.Tag("nginx/v2/x", r.Rev("main"), "")
				c := onMain(r, gittest.Package("nginx", "2"))
				return []revision.RefUpdate{upd(zero, c, "refs/tags/nginx/v2")}
			},
			role:  store.RoleWrite,
			lines: []string{"pkgserver: refused refs/tags/nginx/v2: the ref refs/tags/nginx/v2/x exists below it: an admin must delete it first"},
		},
		{
			name: "a new ref below an existing one",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				r.Git("branch", "feature", "main")
				return []revision.RefUpdate{upd(zero, r.Rev("main"), "refs/heads/feature/x")}
			},
			role:  store.RoleWrite,
			lines: []string{"pkgserver: refused refs/heads/feature/x: the ref refs/heads/feature exists and would be its directory"},
		},
		{
			name: "a package tag moved away from its package",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				r.Tag("nginx/v1.2.0", r.Rev("main"), "")
				empty := r.Git("commit-tree", "4b825dc642cb6eb9a060e54bf8d69288fbee4904", "-m", "empty")
				return []revision.RefUpdate{upd(r.Rev("main"), empty, "refs/tags/nginx/v1.2.0")}
			},
			role:  store.RoleWrite,
			lines: []string{"pkgserver: refused refs/tags/nginx/v1.2.0: published revisions are immutable: the tag cannot be moved"},
		},
	})
}

// TestCheckedPerPackage: a decision tells each package's tree and its own
// findings, for the validated condition of its revisions; two drafts of one
// package pushed at once keep their findings apart.
func TestCheckedPerPackage(t *testing.T) {
	r := newRepo(t)
	cfg := revision.Config{Repository: "cat", Branch: "main"}
	main := r.Rev("main")
	warned := commit(r, map[string]string{"nginx/deploy.yaml": krmtest.Deployment("2", "nginx")}) // no tag: a warning
	r.Checkout("--detach", main)
	clean := commit(r, map[string]string{"nginx/deploy.yaml": krmtest.Deployment("2", "nginx:1.27"), "redis/deploy.yaml": krmtest.Deployment("1", "redis:7")})
	d := check(t, r, cfg, store.RoleWrite, upd(zero, warned, "refs/heads/drafts/nginx/a"), upd(zero, clean, "refs/heads/drafts/nginx/b"),
		upd(zero, clean, "refs/heads/drafts/redis/c"))
	if !d.Accept || len(d.Checked) != 3 {
		t.Fatalf("decision: accept %v, checked %+v\n%s", d.Accept, d.Checked, strings.Join(d.Lines, "\n"))
	}
	tree := func(commit, dir string) string { return r.Git("rev-parse", commit+":"+dir) }
	want := map[string]int{tree(warned, "nginx"): 1, tree(clean, "nginx"): 0, tree(clean, "redis"): 0}
	vs := d.Validations(time.Now())
	for tr, warnings := range want {
		if v := vs[tr]; v == nil || v.Warnings != warnings || v.Errors != 0 {
			t.Errorf("tree %s: %+v, want %d warnings", tr, v, warnings)
		}
	}
}
