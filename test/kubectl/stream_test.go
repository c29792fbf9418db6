package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// stream is a kubectl that runs until the test ends it (get -w, wait),
// whose output lines are collected as they come.
type stream struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	lines  []string
	stderr bytes.Buffer
	err    error // set when done is closed
	args   []string
}

func (s *server) start(t *testing.T, args ...string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st := &stream{cancel: cancel, done: make(chan struct{}), args: args}
	cmd := exec.CommandContext(ctx, bins.kubectl, args...)
	cmd.Env = s.env()
	cmd.Stderr = lockedWriter{&st.mu, &st.stderr}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			st.mu.Lock()
			st.lines = append(st.lines, sc.Text())
			st.mu.Unlock()
		}
		io.Copy(io.Discard, out)
		st.err = cmd.Wait()
		close(st.done)
	}()
	t.Cleanup(func() { st.stop() })
	return st
}

// stop ends kubectl and waits for it.
func (st *stream) stop() {
	st.cancel()
	<-st.done
}

func (st *stream) String() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return fmt.Sprintf("$ kubectl %s\nstdout:\n%s\nstderr:\n%s", strings.Join(st.args, " "),
		firstLines(strings.Join(st.lines, "\n"), 30), firstLines(st.stderr.String(), 30))
}

// waitLine waits up to a minute for an output line that match accepts and
// returns it; it fails the test if kubectl exits first.
func (st *stream) waitLine(t *testing.T, what string, match func(line string) bool) string {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		st.mu.Lock()
		i := slices.IndexFunc(st.lines, match)
		var line string
		if i >= 0 {
			line = st.lines[i]
		}
		st.mu.Unlock()
		if i >= 0 {
			return line
		}
		select {
		case <-st.done:
			t.Fatalf("kubectl exited (%v) before printing %s:\n%s", st.err, what, st)
		default:
		}
	}
	t.Fatalf("kubectl printed no %s within a minute:\n%s", what, st)
	return ""
}

// waitStderr waits up to a minute for kubectl to write a line to its
// standard error that holds each of texts (a request it logs at -v=6, say);
// it fails the test if kubectl exits first.
func (st *stream) waitStderr(t *testing.T, texts ...string) {
	t.Helper()
	has := func(line string) bool {
		for _, s := range texts {
			if !strings.Contains(line, s) {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		st.mu.Lock()
		found := slices.ContainsFunc(strings.Split(st.stderr.String(), "\n"), has)
		st.mu.Unlock()
		if found {
			return
		}
		select {
		case <-st.done:
			t.Fatalf("kubectl exited (%v) before writing a line with %q:\n%s", st.err, texts, st)
		default:
		}
	}
	t.Fatalf("kubectl wrote no line with %q within a minute:\n%s", texts, st)
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
