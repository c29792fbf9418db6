package abuse

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// TestStaleTemporaryDirectories: the temporary directories of dry runs and
// upgrade merges that a killed server left are removed when a server
// starts; those of a process still running, and names of another form,
// are kept.
func TestStaleTemporaryDirectories(t *testing.T) {
	s := startServer(t)
	s.Kill(t)
	tmp := filepath.Join(s.Dir, "tmp")
	// A process id nobody holds: that of a process that has exited.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	dead := strconv.Itoa(gone.Process.Pid)
	alive := strconv.Itoa(os.Getpid())
	stale := []string{"pkgserver-scratch-" + dead + "-123", "pkgserver-upgrade-" + dead + "-456"}
	kept := []string{"pkgserver-scratch-" + alive + "-789", "pkgserver-scratch-notapid", "other-" + dead + "-1"}
	for _, name := range append(append([]string{}, stale...), kept...) {
		s.writeFile(t, filepath.Join("tmp", name, "objects", "x"), "x")
	}
	s.Env = append(s.Env, "TMPDIR="+tmp)
	s.Restart(t)
	for _, name := range stale {
		if _, err := os.Stat(filepath.Join(tmp, name)); !os.IsNotExist(err) {
			t.Errorf("%s: left after the start (%v)", name, err)
		}
	}
	for _, name := range kept {
		if _, err := os.Stat(filepath.Join(tmp, name)); err != nil {
			t.Errorf("%s: %v; want it kept", name, err)
		}
	}
}
