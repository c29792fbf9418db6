package gitserver

import (
	"context"
	"errors"
	"io/fs"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// Hosted repositories are kept in shape by the server rather than by
// receive-pack (receive.autogc is off): after a push, in the background,
// loose refs are packed once there are many (git reads every loose ref
// file on every push, 1,000 of them cost more than the rest of a small
// push), and `git gc --auto` packs loose objects when git thinks it is
// time.
const (
	// looseRefsToPack is how many loose refs a repository may hold before
	// they are packed.
	looseRefsToPack  = 64
	maintenanceLimit = 10 * time.Minute
)

// maintenance runs repository upkeep one repository at a time, coalescing
// requests for a repository that is already waiting.
type maintenance struct {
	mu      sync.Mutex
	pending map[string]bool
	order   []string
	wake    chan struct{}
}

func newMaintenance() *maintenance {
	return &maintenance{pending: map[string]bool{}, wake: make(chan struct{}, 1)}
}

// request asks for upkeep of a repository after a push.
func (m *maintenance) request(gitDir string) {
	m.mu.Lock()
	if !m.pending[gitDir] {
		m.pending[gitDir] = true
		m.order = append(m.order, gitDir)
	}
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *maintenance) next() (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.order) == 0 {
		return "", false
	}
	dir := m.order[0]
	m.order = m.order[1:]
	delete(m.pending, dir)
	return dir, true
}

// RunMaintenance keeps hosted repositories in shape after pushes until ctx
// ends.
func (h *Host) RunMaintenance(ctx context.Context) {
	h.maintOnce.Do(func() { h.maint = newMaintenance() })
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.maint.wake:
		}
		for {
			dir, ok := h.maint.next()
			if !ok || ctx.Err() != nil {
				break
			}
			h.maintain(ctx, dir)
		}
	}
}

func (h *Host) maintain(ctx context.Context, gitDir string) {
	ctx, cancel := context.WithTimeout(ctx, maintenanceLimit)
	defer cancel()
	run := func(args ...string) {
		cmd := exec.CommandContext(ctx, "git", append([]string{"--git-dir=" + gitDir}, args...)...)
		cmd.Env = serviceEnv(Limits{}, "", gitDir, "", "")
		cmd.Dir = gitDir
		if out, err := cmd.CombinedOutput(); err != nil && ctx.Err() == nil {
			h.Log.Warn("repository upkeep", "dir", gitDir, "git", args[0], "err", err, "output", string(out))
		}
	}
	if countLooseRefs(filepath.Join(gitDir, "refs"), looseRefsToPack) >= looseRefsToPack {
		run("pack-refs", "--all", "--prune")
	}
	run("gc", "--auto", "--quiet")
}

// countLooseRefs counts the files below refs, stopping at limit.
func countLooseRefs(dir string, limit int) int {
	n := 0
	stop := errors.New("enough")
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Type().IsRegular() {
			if n++; n >= limit {
				return stop
			}
		}
		return nil
	})
	return n
}
