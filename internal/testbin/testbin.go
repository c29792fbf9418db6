// Package testbin builds this module's commands for the tests that run
// them as processes (the git host's hooks, whole servers), once per test
// binary.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Main builds the commands named (cmd/NAME of this module) into a new
// temporary directory, sets *dir to it, calls run (the tests: m.Run, or a
// wrapper of it), removes the directory and exits with run's code. A
// command that does not build ends the test binary with its compiler's
// output.
func Main(run func() int, dir *string, names ...string) {
	d, err := os.MkdirTemp("", "pkgserver-bin-")
	if err != nil {
		panic(err)
	}
	for _, name := range names {
		build := exec.Command("go", "build", "-o", filepath.Join(d, name), "github.com/pkgserver/pkgserver/cmd/"+name)
		build.Stdout, build.Stderr = os.Stdout, os.Stderr
		if err := build.Run(); err != nil {
			os.RemoveAll(d)
			panic(fmt.Sprintf("build %s: %v", name, err))
		}
	}
	*dir = d
	code := run()
	os.RemoveAll(d)
	os.Exit(code)
}
