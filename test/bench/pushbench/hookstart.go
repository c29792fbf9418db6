package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// hookStart is the start-up of one hook command: the wall time of a
// trivial invocation, from this process's fork to the child's exit.
type hookStart struct {
	name  string
	args  []string
	size  int64
	times []time.Duration
}

// measureHookStart runs each command runs times, in turn, after a warm-up
// of each. Every command gets the same trivial invocation: the hook's URL
// set but not its token, so that the hook prints that it runs under the
// git host only and exits 1 before reading its input — the start-up of
// the process and nothing else.
func measureHookStart(commands []*hookStart, runs int) {
	env := []string{"PATH=" + os.Getenv("PATH"), "PKGSERVER_HOOK_URL=http://127.0.0.1:9/hooks/v1/"}
	once := func(c *hookStart) time.Duration {
		cmd := exec.Command(c.args[0], c.args[1:]...)
		cmd.Env = env
		start := time.Now()
		_ = cmd.Run() // exits 1 by design
		return time.Since(start)
	}
	for _, c := range commands {
		if info, err := os.Stat(c.args[0]); err == nil {
			c.size = info.Size()
		}
		for range 3 {
			once(c)
		}
	}
	for range runs {
		for _, c := range commands {
			c.times = append(c.times, once(c))
		}
	}
}

// buildEmptyGo builds a Go program that does nothing, the floor of any Go
// binary's start-up, into dir.
func buildEmptyGo(dir string) (string, error) {
	src := filepath.Join(dir, "empty")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	files := map[string]string{
		"go.mod":  "module empty\n\ngo 1.22\n",
		"main.go": "package main\n\nfunc main() {}\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(src, name), []byte(text), 0o644); err != nil {
			return "", err
		}
	}
	bin := filepath.Join(src, "empty")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build of an empty program: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return bin, nil
}
