// Package benchutil holds what the benchmark programs of test/bench share:
// the machine's description and small statistics.
package benchutil

import (
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// CPUModel is the processor's model name, from /proc/cpuinfo.
func CPUModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "model name") {
			return strings.TrimSpace(line[strings.Index(line, ":")+1:])
		}
	}
	return "unknown CPU"
}

// Median is the middle duration (the upper one of an even count).
func Median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// Ms is a duration in milliseconds.
func Ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// DirSize is the total size of the files below dir.
func DirSize(dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n += info.Size()
		}
		return nil
	})
	return n
}

// Workdir prepares a benchmark's working directory out, emptied, with a
// data directory for the server in it, and returns its absolute path and
// that of the pkgserver binary; a failure ends the process.
func Workdir(out, pkgserver string) (dir, bin string) {
	dir, err := filepath.Abs(out)
	if err == nil {
		bin, err = filepath.Abs(pkgserver)
	}
	if err == nil {
		err = os.RemoveAll(dir)
	}
	if err == nil {
		err = os.MkdirAll(filepath.Join(dir, "data"), 0o700)
	}
	if err != nil {
		log.Fatal(err)
	}
	return dir, bin
}
