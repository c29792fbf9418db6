package gitrepo

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
)

// RefsUnderAll returns the refs below any of the prefixes (each ending in
// "/"), with one git process however many prefixes there are.
func (r *Repo) RefsUnderAll(ctx context.Context, prefixes ...string) ([]Ref, error) {
	if len(prefixes) == 0 {
		return nil, nil
	}
	for _, p := range prefixes {
		if !strings.HasSuffix(p, "/") {
			return nil, fmt.Errorf("ref prefix %q must end with /", p)
		}
	}
	return r.refs(ctx, prefixes...)
}

// ErrTooManyCommits is Outside's error when more commits than its bound are
// off tip: the caller asks about each head alone instead.
var ErrTooManyCommits = errors.New("too many commits off the branch to read in one pass")

// Outside lists the commits reachable from heads but not from tip (every
// commit reachable from heads when tip is ""), each with its parents, by
// id, with one git process (rev-list) however many heads there are. A head
// missing from the result is reachable from tip; a parent missing from it
// is where the head's history joins tip's. The list is read as git writes
// it and holds at most max commits: past that (an unrelated history pushed
// to a side branch) the process is stopped and the error is
// ErrTooManyCommits.
func (r *Repo) Outside(ctx context.Context, tip string, heads []string, max int) (map[string][]string, error) {
	out := map[string][]string{}
	if len(heads) == 0 {
		return out, nil
	}
	var in strings.Builder
	for _, h := range heads {
		if !IsObjectID(h) {
			return nil, fmt.Errorf("invalid commit id %q", h)
		}
		in.WriteString(h + "\n")
	}
	if tip != "" {
		if !IsObjectID(tip) {
			return nil, fmt.Errorf("invalid commit id %q", tip)
		}
		in.WriteString("^" + tip + "\n")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := r.command(ctx, "rev-list", "--parents", "--stdin")
	cmd.Stdin = strings.NewReader(in.String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(stdout)
	// A line is a commit and its parents: an octopus merge of many
	// branches makes a long one.
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	tooMany := false
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(out) >= max {
			tooMany = true
			break
		}
		out[f[0]] = f[1:]
	}
	scanErr := sc.Err()
	if tooMany || scanErr != nil {
		cancel() // stops git, which may still be writing
	}
	waitErr := cmd.Wait()
	switch {
	case tooMany:
		return nil, fmt.Errorf("%w (more than %d)", ErrTooManyCommits, max)
	case ctx.Err() != nil && scanErr == nil && waitErr != nil:
		return nil, ctx.Err()
	case scanErr != nil:
		return nil, fmt.Errorf("git rev-list: %w", scanErr)
	case waitErr != nil:
		return nil, fmt.Errorf("git rev-list: %w: %s", waitErr, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// IsObjectID tells whether s is a full object id as git writes it: 40
// (SHA-1) or 64 (SHA-256) lower-case hexadecimal digits.
func IsObjectID(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	return strings.Trim(s, "0123456789abcdef") == ""
}
