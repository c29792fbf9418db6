package revision

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

var labelRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// IsLabel reports whether s is an RFC 1123 label: what package path
// segments, workspaces and repository names must be.
func IsLabel(s string) bool {
	return len(s) <= 63 && labelRE.MatchString(s)
}

// LabelFrom turns an arbitrary name (a branch, a tag) into an RFC 1123
// label: lower case, every run of other characters a dash. It returns "" when
// nothing of the name is left.
func LabelFrom(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	out := strings.TrimRight(b.String(), "-")
	if len(out) > 63 {
		out = strings.TrimRight(out[:63], "-")
	}
	return out
}

// ObjectName is the name of a package revision object:
// <repository>.<package path with "/" as ".">.<workspace>.
func ObjectName(repository, pkg, workspace string) string {
	return repository + "." + strings.ReplaceAll(pkg, "/", ".") + "." + workspace
}

// maxNameLength is the longest object name Kubernetes accepts.
const maxNameLength = 253

// ValidatePackagePath checks that a package path is one or more RFC 1123
// labels separated by "/".
func ValidatePackagePath(p string) error {
	if p == "" {
		return fmt.Errorf("package path is empty")
	}
	for _, seg := range strings.Split(p, "/") {
		if !IsLabel(seg) {
			return fmt.Errorf("package path %q: segment %q is not an RFC 1123 label (lower-case letters, digits and '-')", p, seg)
		}
	}
	return nil
}

// ParseRevisionNumber returns N for a revision "v<N>" (N ≥ 1, no leading
// zero), else 0.
func ParseRevisionNumber(rev string) int {
	if len(rev) < 2 || rev[0] != 'v' || rev[1] == '0' {
		return 0
	}
	n, err := strconv.Atoi(rev[1:])
	if err != nil || n < 1 || strconv.Itoa(n) != rev[1:] {
		return 0
	}
	return n
}

// FormatRevision returns "v<N>".
func FormatRevision(n int) string { return "v" + strconv.Itoa(n) }

// NextRevision is the number a new publication of a package takes: one more
// than the highest published v<N>. Tags of other shapes do not count.
func NextRevision(published []int) int {
	highest := 0
	for _, n := range published {
		highest = max(highest, n)
	}
	return highest + 1
}

// LooksLikeRevision tells a tag's last segment that reads as a revision
// but is not one ParseRevisionNumber accepts: v or V followed by digits
// only (v01, v099, V3, v0). Such a tag would be listed as a published
// revision named after it yet never counted, beside the v<N> it mimics.
func LooksLikeRevision(s string) bool {
	if len(s) < 2 || (s[0] != 'v' && s[0] != 'V') {
		return false
	}
	for _, c := range s[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return ParseRevisionNumber(s) == 0
}
