package gitrepo

import (
	"bytes"
	"context"
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

// Outside lists the commits reachable from heads but not from tip (every
// commit reachable from heads when tip is ""), each with its parents, by
// id, with one git process (rev-list) however many heads there are. A head
// missing from the result is reachable from tip; a parent missing from it
// is where the head's history joins tip's.
func (r *Repo) Outside(ctx context.Context, tip string, heads []string) (map[string][]string, error) {
	out := map[string][]string{}
	if len(heads) == 0 {
		return out, nil
	}
	var in strings.Builder
	for _, h := range heads {
		if !isObjectID(h) {
			return nil, fmt.Errorf("invalid commit id %q", h)
		}
		in.WriteString(h + "\n")
	}
	if tip != "" {
		if !isObjectID(tip) {
			return nil, fmt.Errorf("invalid commit id %q", tip)
		}
		in.WriteString("^" + tip + "\n")
	}
	cmd := r.command(ctx, "rev-list", "--parents", "--stdin")
	cmd.Stdin = strings.NewReader(in.String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	data, err := cmd.Output()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("git rev-list: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	for len(data) > 0 {
		line, rest, _ := bytes.Cut(data, []byte{'\n'})
		data = rest
		if f := strings.Fields(string(line)); len(f) > 0 {
			out[f[0]] = f[1:]
		}
	}
	return out, nil
}

func isObjectID(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
