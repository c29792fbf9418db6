package main

import (
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/pkgserver/pkgserver/test/bench/benchutil"
)

// baseline is git alone in a repository, after the run: the floor of the
// git processes a write starts.
type baseline struct {
	readRef   time.Duration // `git for-each-ref -- refs/heads/main`
	updateRef time.Duration // `git update-ref --stdin`, a transaction creating one ref
}

// measureBaseline times each git command 21 times (the median), in the
// repository as the run left it.
func measureBaseline(gitDir string) (baseline, error) {
	head, err := git(gitDir, "rev-parse", "refs/heads/main")
	if err != nil {
		return baseline{}, err
	}
	var read, update []time.Duration
	for i := range 21 {
		d, err := timed(gitDir, "", "for-each-ref", "--format=%(objectname) %(refname)", "--", "refs/heads/main")
		if err != nil {
			return baseline{}, err
		}
		read = append(read, d)
		ref := fmt.Sprintf("refs/bench/baseline-%d", i)
		d, err = timed(gitDir, fmt.Sprintf("start\ncreate %s %s\nprepare\ncommit\n", ref, head), "update-ref", "--stdin")
		if err != nil {
			return baseline{}, err
		}
		update = append(update, d)
		if _, err := timed(gitDir, fmt.Sprintf("delete %s %s\n", ref, head), "update-ref", "--stdin"); err != nil {
			return baseline{}, err
		}
	}
	return baseline{readRef: benchutil.Median(read), updateRef: benchutil.Median(update)}, nil
}

// timed runs one git command with stdin and returns its wall time.
func timed(gitDir, stdin string, args ...string) (time.Duration, error) {
	cmd := exec.Command("git", append([]string{"--git-dir=" + gitDir}, args...)...)
	cmd.Env = gitEnv()
	cmd.Stdin = strings.NewReader(stdin)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return time.Since(start), nil
}
