package reconcile

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/revision"
)

// porchApprove makes the commit Porch makes when it approves a draft: on
// the branch, with the draft as second parent, committed by Porch itself
// and authored by the approver, its message Porch's template followed by
// the kpt: line (see Porch's pkg/externalrepo/git: AnnotateCommitMessage,
// commitMessageApproveTemplate, commitHelper.storeCommit). Porch then
// pushes a lightweight tag <package>/v<N> at it.
func porchApprove(t *testing.T, r *gittest.Repo, pkg, workspace string, n int, approver string, at time.Time) string {
	t.Helper()
	draft := r.Rev("drafts/" + pkg + "/" + workspace)
	msg := fmt.Sprintf("Approving package revision %s/%d\n\nkpt:{\"package\":%q,\"workspaceName\":%q,\"revision\":\"%d\"}\n",
		pkg, n, pkg, workspace, n)
	cmd := exec.Command("git", "commit-tree", draft+"^{tree}", "-p", "main", "-p", draft, "-m", msg)
	cmd.Dir = r.Dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + r.Dir, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=" + approver, "GIT_AUTHOR_EMAIL=" + approver, "GIT_AUTHOR_DATE=" + at.Format(time.RFC3339),
		"GIT_COMMITTER_NAME=Package Orchestration Service", "GIT_COMMITTER_EMAIL=porch@kpt.dev",
		"GIT_COMMITTER_DATE=" + at.Add(time.Second).Format(time.RFC3339)}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git commit-tree: %v\n%s", err, out)
	}
	c := strings.TrimSpace(string(out))
	r.Git("update-ref", "refs/heads/main", c)
	r.Git("reset", "-q", "--hard", "main")
	r.Git("branch", "-D", "drafts/"+pkg+"/"+workspace)
	r.Tag(fmt.Sprintf("%s/v%d", pkg, n), c, "")
	return c
}

// TestPorchPublisher: a revision Porch published records, as Porch reports
// it, the approval commit's author email and author time — not Porch, its
// committer — previewed or indexed; other revisions keep theirs.
func TestPorchPublisher(t *testing.T) {
	ctx := context.Background()
	r := gittest.New(t)
	r.Write(gittest.Package("nginx", "1"))
	c1 := r.Commit("Initial packages")
	r.Tag("nginx/v1", c1, "")
	r.Checkout("-b", "drafts/nginx/tuning")
	r.Write(gittest.Package("nginx", "2"))
	r.Commit("Rendering package")
	r.Checkout("main")
	approvedAt := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	approval := porchApprove(t, r, "nginx", "tuning", 2, "jane@example.com", approvedAt)

	g, err := gitrepo.Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	previewed, _, err := Preview(ctx, g, revision.Config{Repository: "cat", Branch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	s := newStore(t)
	if _, err := register(t, s, r, "cat").Sync(ctx, "default", "cat"); err != nil {
		t.Fatal(err)
	}
	stored := indexed(t, s)
	byName := map[string]revision.Revision{}
	for _, rv := range previewed {
		byName[rv.Name] = rv
	}
	c1At := time.Date(2026, 1, 1, 12, 1, 0, 0, time.UTC) // gittest's clock at the first commit
	for _, tt := range []struct {
		name, by string
		at       time.Time
	}{
		{"cat.nginx.tuning", "jane@example.com", approvedAt},
		{"cat.nginx.v1", "Carl Committer <carl@example.com>", c1At},
		{"cat.nginx.main", "Package Orchestration Service <porch@kpt.dev>", approvedAt.Add(time.Second)},
	} {
		for from, revs := range map[string]map[string]revision.Revision{"preview": byName, "index": stored} {
			got, ok := revs[tt.name]
			if !ok {
				t.Errorf("%s: no %s", from, tt.name)
				continue
			}
			if got.PublishedBy != tt.by || !got.PublishedAt.Equal(tt.at) {
				t.Errorf("%s: %s published by %q at %v, want %q at %v", from, tt.name, got.PublishedBy, got.PublishedAt, tt.by, tt.at)
			}
		}
	}
	if got := byName["cat.nginx.tuning"]; got.Commit != approval || got.Revision != "v2" {
		t.Errorf("cat.nginx.tuning is %s at %s, want v2 at the approval commit", got.Revision, got.Commit)
	}
}
