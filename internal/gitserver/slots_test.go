package gitserver

import (
	"errors"
	"testing"
)

// TestSlots: one key holds at most its share, whoever else is served, and
// released slots are taken again.
func TestSlots(t *testing.T) {
	s := newSlots(4, 2)
	var releases []func()
	take := func(key string, want error) {
		t.Helper()
		release, err := s.take(key)
		if !errors.Is(err, want) {
			t.Fatalf("take(%s) = %v, want %v", key, err, want)
		}
		if err == nil {
			releases = append(releases, release)
		}
	}
	take("a", nil)
	take("a", nil)
	take("a", errKeyBusy) // a holds its share
	take("b", nil)        // b is still served
	take("c", nil)
	take("d", errBusy) // all four taken
	take("b", errBusy)
	releases[0]()
	releases[0]() // twice is once
	take("a", nil)
	take("a", errKeyBusy)
	if s.n != 4 || s.byKey["a"] != 2 {
		t.Errorf("n=%d a=%d, want 4 and 2", s.n, s.byKey["a"])
	}
}
