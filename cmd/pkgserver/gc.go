package main

import (
	"os"
	"runtime/debug"
)

// Garbage collection of pkgserver's one-shot commands. Validating and
// rendering allocate much and keep little: parsing YAML, walking schemas,
// running functions. Go's default (collect when the heap doubles) then
// spends a third of a render's time collecting. validate and fn render
// collect less often, and as usual once the heap passes a soft limit, so
// that memory stays bounded; GOGC and GOMEMLIMIT, when set, decide
// instead. The server keeps Go's default: collecting less often there
// raised its peak memory under read load past 300 MiB (BENCHMARKS.md);
// GOGC=200 in its environment trades that memory for renders about 40 %
// faster.
const (
	// cliGCPercent is that of the one-shot commands (validate, fn render).
	cliGCPercent = 400
	// renderSoftLimit is fn render's soft limit.
	renderSoftLimit = 256 << 20
)

// collectLessOften sets the process's garbage collection to percent and
// softLimit bytes, each unless the user set GOGC or GOMEMLIMIT.
func collectLessOften(percent int, softLimit int64) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(percent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(softLimit)
	}
}
