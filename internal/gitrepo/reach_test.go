package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
)

// TestOutsideBounded: Outside lists the commits of heads off tip with
// their parents, and stops, with ErrTooManyCommits, past its bound rather
// than holding a whole unrelated history.
func TestOutsideBounded(t *testing.T) {
	r := gittest.New(t)
	r.Write(map[string]string{"a": "1"})
	tip := r.Commit("base")
	var side []string
	for i := range 10 {
		r.Write(map[string]string{"a": fmt.Sprint(i + 2)})
		side = append(side, r.Commit(fmt.Sprintf("side %d", i)))
	}
	repo, err := Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	head := side[len(side)-1]
	out, err := repo.Outside(ctx, tip, []string{head}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 10 || len(out[side[0]]) != 1 || out[side[0]][0] != tip {
		t.Errorf("Outside = %v, want the 10 side commits, the first with parent %s", out, tip)
	}
	if _, err := repo.Outside(ctx, tip, []string{head}, 9); !errors.Is(err, ErrTooManyCommits) {
		t.Errorf("Outside bounded by 9 = %v, want ErrTooManyCommits", err)
	}
	if _, err := repo.Outside(ctx, tip, []string{"not-an-id"}, 10); err == nil {
		t.Error("Outside accepted a head that is no object id")
	}
}

func TestIsObjectID(t *testing.T) {
	for s, want := range map[string]bool{
		"0123456789abcdef0123456789abcdef01234567":                         true,
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef": true,
		"0123456789ABCDEF0123456789abcdef01234567":                         false,
		"0123456789abcdef": false,
		"main":             false,
		"":                 false,
	} {
		if got := IsObjectID(s); got != want {
			t.Errorf("IsObjectID(%q) = %v, want %v", s, got, want)
		}
	}
}
