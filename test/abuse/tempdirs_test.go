package abuse

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// TestStaleTemporaryDirectories: the temporary directories of dry runs and
// upgrade merges that a killed server left (no lock held on their lock
// file, whatever process id their name holds) are removed when a server
// starts; one whose lock a live process holds is kept even if its name's
// process id looks gone (a pkgserver of another PID namespace sharing
// $TMPDIR), and so are names of another form.
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
	stale := []string{"pkgserver-scratch-" + dead + "-123", "pkgserver-upgrade-" + dead + "-456",
		"pkgserver-scratch-" + alive + "-789"} // a live process id, but no lock held
	held := "pkgserver-scratch-" + dead + "-321"
	kept := []string{held, "pkgserver-scratch-notapid", "other-" + dead + "-1"}
	for _, name := range append(append([]string{}, stale...), kept...) {
		s.writeFile(t, filepath.Join("tmp", name, "objects", "x"), "x")
	}
	// This process holds the lock of held, as a server of another PID
	// namespace holds its directory's.
	s.writeFile(t, filepath.Join("tmp", held, "pkgserver.lock"), "")
	f, err := os.Open(filepath.Join(tmp, held, "pkgserver.lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
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
