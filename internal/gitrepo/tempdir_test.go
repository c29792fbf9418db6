package gitrepo

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestRemoveStaleTemp: the directories of a process that is gone are
// removed; those of live processes, and names of another form, are kept.
func TestRemoveStaleTemp(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	// A process that has exited: its id names a stale directory.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	dead := strconv.Itoa(gone.Process.Pid)
	// A live process that is not this one.
	live := exec.Command("sleep", "30")
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { live.Process.Kill(); live.Wait() }()
	mine, err := MkdirTemp(ScratchPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(filepath.Base(mine), ScratchPrefix+strconv.Itoa(os.Getpid())+"-") {
		t.Fatalf("MkdirTemp made %s", mine)
	}
	stale := filepath.Join(tmp, ScratchPrefix+dead+"-123")
	kept := []string{
		mine,
		filepath.Join(tmp, ScratchPrefix+strconv.Itoa(live.Process.Pid)+"-456"),
		filepath.Join(tmp, ScratchPrefix+"789"),            // no process id
		filepath.Join(tmp, "pkgserver-upgrade-"+dead+"-1"), // another prefix
		filepath.Join(tmp, ScratchPrefix+"x-1"),
	}
	for _, d := range append([]string{stale}, kept...) {
		if err := os.MkdirAll(filepath.Join(d, "objects"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	n, err := RemoveStaleTemp(ScratchPrefix)
	if err != nil || n != 1 {
		t.Errorf("RemoveStaleTemp = %d, %v; want 1", n, err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the stale directory is left: %v", err)
	}
	for _, d := range kept {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s was removed: %v", d, err)
		}
	}
}
