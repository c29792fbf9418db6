package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/revision"
)

// gitTagger tags an existing commit in git, as a forge does: a taken name
// is a conflict.
type gitTagger struct {
	g      *gitrepo.Repo
	commit string
	// before runs before each try's tag is created.
	before func(try int)
	// refresh, when set, runs in each Refresh.
	refresh   func()
	messages  []string
	refreshes int
}

func (t *gitTagger) Tag(ctx context.Context, name, message string) error {
	t.messages = append(t.messages, message)
	if t.before != nil {
		t.before(len(t.messages))
	}
	err := t.g.UpdateRefs(ctx, []revision.RefUpdate{{Ref: revision.TagsPrefix + name, New: t.commit}})
	if errors.Is(err, gitrepo.ErrRefConflict) {
		return conflict("%v", err)
	}
	return err
}

func (t *gitTagger) Refresh(context.Context) error {
	t.refreshes++
	if t.refresh != nil {
		t.refresh()
	}
	return nil
}

// publishRepo is a repository with the package nginx on main: main's
// first commit, then c1 and c2 on it, and side, a commit on a branch of
// its own; nginx/v1 tags c1, with tags that are not v<N> beside it.
func publishRepo(t *testing.T) (work *gittest.Repo, g *gitrepo.Repo, c1, c2, side string) {
	t.Helper()
	work = gittest.New(t)
	work.Write(gittest.Package("nginx", "1"))
	work.Commit("initial")
	work.Write(gittest.Package("nginx", "2"))
	c1 = work.Commit("two")
	work.Write(gittest.Package("nginx", "3"))
	c2 = work.Commit("three")
	work.Checkout("-b", "side", c1)
	work.Write(gittest.Package("nginx", "4"))
	side = work.Commit("side")
	work.Checkout("main")
	work.Tag("nginx/v1", c1, "")
	work.Tag("nginx/v01", c2, "") // looks like a revision, is none
	work.Tag("nginx/latest", c2, "")
	work.Tag("nginx/sub/v7", c2, "") // another package's
	g, err := gitrepo.Open(work.Dir)
	if err != nil {
		t.Fatal(err)
	}
	return work, g, c1, c2, side
}

// TestPublish: the next v<N> counted from the package's v<N> tags; a
// number taken between the count and the tag makes the publication the
// next one; the commit published again is the publication it has; an
// older commit is not published over a newer revision.
func TestPublish(t *testing.T) {
	ctx := context.Background()
	work, g, c1, c2, _ := publishRepo(t)
	p := &Publisher{}
	pub := Publication{RepoID: 1, Package: "nginx", Workspace: "tuning", PullRequest: 7, Commit: c2}

	// Another publisher takes v2 between the count and the tag.
	tg := &gitTagger{g: g, commit: c2, before: func(try int) {
		if try == 1 {
			work.Tag("nginx/v2", c1, "")
		}
	}}
	got, err := p.Publish(ctx, g, pub, tg)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Published{Tag: "nginx/v3", Number: 3}); got != want {
		t.Errorf("published %+v, want %+v", got, want)
	}
	if tg.refreshes != 1 || len(tg.messages) != 2 {
		t.Errorf("%d tries, %d refreshes; want 2 and 1", len(tg.messages), tg.refreshes)
	}
	if want := "Publish nginx v3 from pull request #7\n\nPackage: nginx\nWorkspace: tuning\nRevision: v3\nPull-Request: 7\n"; tg.messages[1] != want {
		t.Errorf("message\n%q, want\n%q", tg.messages[1], want)
	}
	if at := work.Rev("nginx/v3"); at != c2 {
		t.Errorf("nginx/v3 is on %s, want %s", at, c2)
	}

	// Published again: the tag it has, nothing tagged.
	again := &gitTagger{g: g, commit: c2}
	if got, err = p.Publish(ctx, g, pub, again); err != nil {
		t.Fatal(err)
	}
	if want := (Published{Tag: "nginx/v3", Number: 3, Existing: true}); got != want || len(again.messages) != 0 {
		t.Errorf("published again: %+v after %d tries, want %+v", got, len(again.messages), want)
	}

	// The first commit is older than nginx/v1's: not published.
	first := work.Rev("main~2")
	older := &gitTagger{g: g, commit: first}
	if got, err = p.Publish(ctx, g, Publication{RepoID: 1, Package: "nginx", Commit: first}, older); err != nil {
		t.Fatal(err)
	}
	if got.Tag != "" || got.Number != 0 || !strings.HasPrefix(got.Newer, "refs/tags/nginx/v") || len(older.messages) != 0 {
		t.Errorf("an older commit: %+v after %d tries", got, len(older.messages))
	}
}

// TestPublishTries: a number taken at every try ends the publication
// after maxPublishTries with the conflict; an error of Refresh ends it at
// once.
func TestPublishTries(t *testing.T) {
	ctx := context.Background()
	work, g, _, c2, _ := publishRepo(t)
	taken := &gitTagger{g: g, commit: c2, before: func(try int) {
		work.Tag(fmt.Sprintf("nginx/v%d", try+1), work.Rev("main~2"), "")
	}}
	_, err := (&Publisher{}).Publish(ctx, g, Publication{RepoID: 1, Package: "nginx", Workspace: "w", Commit: c2}, taken)
	if !errors.Is(err, ErrConflict) || len(taken.messages) != maxPublishTries {
		t.Errorf("after %d tries: %v", len(taken.messages), err)
	}

	// v2 to v6 are taken: the next tries find v7 and v8 taken.
	taken = &gitTagger{g: g, commit: c2, before: func(try int) {
		work.Tag(fmt.Sprintf("nginx/v%d", try+6), work.Rev("main~2"), "")
	}}
	_, err = (&Publisher{}).Publish(ctx, g, Publication{RepoID: 1, Package: "nginx", Workspace: "w", Commit: c2, Tries: 2}, taken)
	if !errors.Is(err, ErrConflict) || len(taken.messages) != 2 {
		t.Errorf("2 tries asked for: %d tries: %v", len(taken.messages), err)
	}

	stop := errors.New("the proposal changed")
	failing := &refreshFails{err: stop}
	if _, err := (&Publisher{}).Publish(ctx, g, Publication{RepoID: 1, Package: "nginx"}, failing); !errors.Is(err, stop) || failing.tries != 1 {
		t.Errorf("after %d tries: %v", failing.tries, err)
	}
}

type refreshFails struct {
	err   error
	tries int
}

func (r *refreshFails) Tag(context.Context, string, string) error {
	r.tries++
	return conflict("taken")
}

func (r *refreshFails) Refresh(context.Context) error { return r.err }

// TestPublishSerializes: publications of one package through one
// Publisher wait for each other, so none finds its number taken.
func TestPublishSerializes(t *testing.T) {
	ctx := context.Background()
	_, g, _, c2, side := publishRepo(t)
	p := &Publisher{}
	taggers := []*gitTagger{{g: g, commit: c2}, {g: g, commit: side}}
	got := make([]Published, len(taggers))
	errs := make([]error, len(taggers))
	var wg sync.WaitGroup
	for i, tg := range taggers {
		wg.Go(func() {
			got[i], errs[i] = p.Publish(ctx, g, Publication{RepoID: 1, Package: "nginx", Workspace: "w", Commit: tg.commit}, tg)
		})
	}
	wg.Wait()
	numbers := map[int]bool{}
	for i, tg := range taggers {
		if errs[i] != nil || tg.refreshes != 0 {
			t.Errorf("publication %d: %v after %d refreshes", i, errs[i], tg.refreshes)
		}
		numbers[got[i].Number] = true
	}
	if !numbers[2] || !numbers[3] {
		t.Errorf("published %+v, want v2 and v3", got)
	}
}

// TestPublishRefreshUnlocked: the package's lock is not held during a
// tagger's Refresh (a forge's sync): a publication of the package waiting
// for it goes on meanwhile, and the first counts past its number.
func TestPublishRefreshUnlocked(t *testing.T) {
	ctx := context.Background()
	work, g, c1, c2, side := publishRepo(t)
	p := &Publisher{}
	other := &gitTagger{g: g, commit: side}
	var otherGot Published
	var otherErr error
	tg := &gitTagger{g: g, commit: c2, before: func(try int) {
		if try == 1 {
			work.Tag("nginx/v2", c1, "") // taken by hand: a conflict
		}
	}}
	tg.refresh = func() {
		done := make(chan struct{})
		go func() {
			defer close(done)
			otherGot, otherErr = p.Publish(ctx, g, Publication{RepoID: 1, Package: "nginx", Commit: side}, other)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("a publication of the package waited for another's Refresh")
		}
	}
	got, err := p.Publish(ctx, g, Publication{RepoID: 1, Package: "nginx", Commit: c2}, tg)
	if err != nil || otherErr != nil {
		t.Fatal(err, otherErr)
	}
	if got.Number != 4 || otherGot.Number != 3 {
		t.Errorf("published %+v and, during the refresh, %+v; want v4 and v3", got, otherGot)
	}
}

func TestPublishMessage(t *testing.T) {
	for _, tc := range []struct {
		workspace   string
		pullRequest int
		want        string
	}{
		{"first", 0, "Publish pkgs/nginx v4\n\nPackage: pkgs/nginx\nWorkspace: first\nRevision: v4\n"},
		{"", 12, "Publish pkgs/nginx v4 from pull request #12\n\nPackage: pkgs/nginx\nRevision: v4\nPull-Request: 12\n"},
	} {
		if got := PublishMessage("pkgs/nginx", tc.workspace, 4, tc.pullRequest); got != tc.want {
			t.Errorf("PublishMessage(%q, %d) = %q, want %q", tc.workspace, tc.pullRequest, got, tc.want)
		}
	}
}

// TestApprovalNumberTaken: a tag nginx/v1 made by someone else while a
// proposal is approved: the publication is nginx/v2, its commit's
// trailers say so, and the proposal's branch is gone.
func TestApprovalNumberTaken(t *testing.T) {
	ctx := context.Background()
	w, _, bare := setupFiles(t, nil)
	w.Publisher = &Publisher{}
	r := proposeNginx(t, w)
	w.beforePublish = func(try int) {
		if try == 1 {
			run(t, bare, "tag", "nginx/v1", "main")
		}
	}
	pub, _, err := w.Approval(ctx, "default", r.Name, r.ResourceVersion, revision.Published, Author{Name: "ada"})
	if err != nil {
		t.Fatal(err)
	}
	if pub.Revision.Revision != "v2" || pub.Lifecycle != revision.Published {
		t.Fatalf("published: %+v", pub.Revision)
	}
	if run(t, bare, "rev-parse", "nginx/v2") != run(t, bare, "rev-parse", "main") {
		t.Errorf("nginx/v2 is not on the branch head")
	}
	if want := "Publish nginx v2\n\nPackage: nginx\nWorkspace: first\nRevision: v2"; run(t, bare, "log", "-1", "--format=%B", "main") != want {
		t.Errorf("publication commit:\n%s", run(t, bare, "log", "-1", "--format=%B", "main"))
	}
	if got := run(t, bare, "for-each-ref", "--format=%(refname)", "refs/heads/"); got != "refs/heads/main" {
		t.Errorf("branches after publishing: %s", got)
	}
}
