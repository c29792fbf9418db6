package main

import (
	"runtime/debug"
	"testing"
)

// TestCollectLessOften: the commands' garbage collection is set unless
// GOGC and GOMEMLIMIT say otherwise.
func TestCollectLessOften(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	collectLessOften(cliGCPercent, 1<<30)
	if got := debug.SetGCPercent(100); got != cliGCPercent {
		t.Errorf("GC percent %d, want %d", got, cliGCPercent)
	}
	if got := debug.SetMemoryLimit(-1); got != 1<<30 {
		t.Errorf("soft limit %d, want 1 GiB", got)
	}

	t.Setenv("GOGC", "150")
	t.Setenv("GOMEMLIMIT", "2GiB")
	debug.SetMemoryLimit(7 << 30)
	collectLessOften(cliGCPercent, 1<<30)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GC percent %d with GOGC set", got)
	}
	if got := debug.SetMemoryLimit(-1); got != 7<<30 {
		t.Errorf("soft limit %d with GOMEMLIMIT set", got)
	}
}
