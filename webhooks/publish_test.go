package webhooks

import (
	"context"
	"errors"
	"testing"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/lifecycle"
)

// takenForge answers CreateTag as a forge whose tags someone else takes:
// the first taken calls create the tag in work (another publisher's) and
// say it exists.
type takenForge struct {
	Forge
	work  *gittest.Repo
	taken int
	calls []string
}

func (f *takenForge) CreateTag(_ context.Context, name, commit, message string) error {
	f.calls = append(f.calls, name)
	if len(f.calls) <= f.taken {
		f.work.Tag(name, commit+"~1", "")
		return ErrTagExists
	}
	f.work.Git("tag", "-a", "-m", message, name, commit)
	return nil
}

// TestForgeTagger: a tag name the forge says exists is a conflict the
// publication tries again with the next number, after a sync; when every
// try finds its number taken, the forge's error is returned as it was,
// after the 3 tries of a merge's publication.
func TestForgeTagger(t *testing.T) {
	ctx := context.Background()
	work := gittest.New(t)
	work.Write(gittest.Package("nginx", "1"))
	work.Commit("initial")
	work.Write(gittest.Package("nginx", "2"))
	merge := work.Commit("merge")
	g, err := gitrepo.Open(work.Dir)
	if err != nil {
		t.Fatal(err)
	}
	syncs := 0
	sync := func(context.Context) error { syncs++; return nil }
	f := &takenForge{work: work, taken: 1}
	pr := &PullRequest{}
	pr.Number, pr.MergeCommit = 3, merge
	pub := mergePublication(1, "nginx", "", pr)
	got, err := (&lifecycle.Publisher{}).Publish(ctx, g, pub, &forgeTagger{forge: f, commit: merge, sync: sync})
	if err != nil {
		t.Fatal(err)
	}
	if got.Tag != "nginx/v2" || syncs != 1 || len(f.calls) != 2 || f.calls[0] != "nginx/v1" {
		t.Errorf("published %+v after calls %v and %d syncs", got, f.calls, syncs)
	}
	if msg := work.Git("tag", "-l", "--format=%(contents)", "nginx/v2"); msg != "Publish nginx v2 from pull request #3\n\nPackage: nginx\nRevision: v2\nPull-Request: 3" {
		t.Errorf("tag message %q", msg)
	}

	work.Write(gittest.Package("nginx", "3"))
	merge = work.Commit("another merge")
	f = &takenForge{work: work, taken: 100}
	pr.MergeCommit = merge
	pub = mergePublication(1, "nginx", "", pr)
	_, err = (&lifecycle.Publisher{}).Publish(ctx, g, pub, &forgeTagger{forge: f, commit: merge, sync: sync})
	if !errors.Is(err, ErrTagExists) || err.Error() != ErrTagExists.Error() || len(f.calls) != 3 {
		t.Errorf("every number taken: %v after calls %v", err, f.calls)
	}
}
