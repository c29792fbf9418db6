package gitrepo

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestRemoveStaleTemp: a directory whose lock nobody holds is removed,
// whatever process id its name holds; one whose lock is held is kept, even
// named with the id of a process gone here (a pkgserver of another PID
// namespace sharing $TMPDIR); names of another form are kept; and a
// directory that cannot be checked does not stop the others' removal.
func TestRemoveStaleTemp(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	// A process that has exited: its id looks dead here.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	dead := strconv.Itoa(gone.Process.Pid)
	// A live process: its id looks alive, but it holds no lock.
	live := exec.Command("sleep", "30")
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { live.Process.Kill(); live.Wait() }()
	mine, err := MkdirTemp(ScratchPrefix)
	if err != nil {
		t.Fatal(err)
	}
	defer mine.Remove()
	if !strings.HasPrefix(filepath.Base(mine.Dir), ScratchPrefix+strconv.Itoa(os.Getpid())+"-") {
		t.Fatalf("MkdirTemp made %s", mine.Dir)
	}
	held := filepath.Join(tmp, ScratchPrefix+dead+"-1")
	stale := []string{
		filepath.Join(tmp, ScratchPrefix+dead+"-2"),                           // no lock file: a killed process's
		filepath.Join(tmp, ScratchPrefix+strconv.Itoa(live.Process.Pid)+"-3"), // an unheld lock file
		filepath.Join(tmp, ScratchPrefix+dead+"-4"),
	}
	unreadable := filepath.Join(tmp, ScratchPrefix+dead+"-0") // its lock file is a directory
	kept := []string{
		mine.Dir, held, unreadable,
		filepath.Join(tmp, ScratchPrefix+"789"),            // no process id
		filepath.Join(tmp, "pkgserver-upgrade-"+dead+"-1"), // another prefix
		filepath.Join(tmp, ScratchPrefix+"x-1"),
	}
	for _, d := range append(append([]string{}, stale...), kept...) {
		if err := os.MkdirAll(filepath.Join(d, "objects"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{held, stale[1]} {
		if err := os.WriteFile(filepath.Join(d, tempLockName), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(unreadable, tempLockName), 0o700); err != nil {
		t.Fatal(err)
	}
	// Another open file description holds held's lock, as another
	// process's would.
	f, err := os.Open(filepath.Join(held, tempLockName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}

	n, err := RemoveStaleTemp(ScratchPrefix)
	if n != len(stale) || err == nil || !strings.Contains(err.Error(), filepath.Base(unreadable)) {
		t.Errorf("RemoveStaleTemp = %d, %v; want %d and an error naming %s", n, err, len(stale), filepath.Base(unreadable))
	}
	for _, d := range stale {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("the stale directory %s is left: %v", d, err)
		}
	}
	for _, d := range kept {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s was removed: %v", d, err)
		}
	}

	// Removed, this process's directory is gone and its lock released.
	if err := mine.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(mine.Dir); !os.IsNotExist(err) {
		t.Errorf("%s left after Remove: %v", mine.Dir, err)
	}
}
