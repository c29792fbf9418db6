package pkgcheck

import "testing"

// TestFirstChange: the line of the pushed file where rendering first
// differs, and what it writes there.
func TestFirstChange(t *testing.T) {
	for _, tc := range []struct {
		old, new string
		line     int
		what     string
	}{
		{"a: 1\nb: 2\n", "a: 1\nc: 3\nb: 2\n", 2, `rendering writes "c: 3" at this line`},
		{"a: 1\nb: 2\n", "a: 1\nb: 22\n", 2, `rendering writes "b: 22" at this line`},
		{"a: 1\n", "b: 1\n", 1, `rendering writes "b: 1" at this line`},
		{"a: 1\n", "a: 1\nb: 2\n", 2, `rendering writes "b: 2" at this line`},
		{"a: 1\nb: 2\n", "a: 1\n", 2, "rendering ends the file before this line"},
		{"", "a: 1\n", 1, `rendering writes "a: 1" at this line`},
	} {
		line, what := firstChange([]byte(tc.old), []byte(tc.new))
		if line != tc.line || what != tc.what {
			t.Errorf("firstChange(%q, %q) = %d, %q; want %d, %q", tc.old, tc.new, line, what, tc.line, tc.what)
		}
	}
}
