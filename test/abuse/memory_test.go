package abuse

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// memoryBase is what a server holds besides the validations of its budget:
// its code, the built-in schemas and policies, the index and the git host
// (docs/validation.md).
const memoryBase = 128 << 20

// writeConfigMaps writes a package of files files of 512 KiB of ConfigMaps
// with short keys, the most YAML nodes per byte, below dir.
func (s *server) writeConfigMaps(t *testing.T, dir, name string, files int) {
	t.Helper()
	s.writeFile(t, dir+"/"+name+"/Kptfile", kptfile(name))
	for f := range files {
		var b strings.Builder
		for i := 0; b.Len() < 512<<10; i++ {
			fmt.Fprintf(&b, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d-%d\ndata:\n", f, i)
			for k := range 100 {
				fmt.Fprintf(&b, "  k%03d: v%03d\n", k, k)
			}
			b.WriteString("---\n")
		}
		s.writeFile(t, fmt.Sprintf("%s/%s/cm%02d.yaml", dir, name, f), b.String())
	}
}

// peakRSS is the most memory the server process has held, in bytes.
func (s *server) peakRSS(t *testing.T) int64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/<pid>/status")
	return 0
}

// TestValidationMemoryBudget pushes four packages of 2 MB at once to four
// hosted repositories of a server with a budget of 64 MiB, in which one
// validation fits at a time (each is counted 40 MiB): all are accepted, some
// after waiting, and the server stays within its budget and base. A package
// that alone needs more than the budget is refused with a message saying so,
// and its repository is unchanged.
func TestValidationMemoryBudget(t *testing.T) {
	s := startServer(t, "--validation-memory", "64Mi")
	const budget = 64 << 20
	t.Logf("idle peak RSS %d MiB", s.peakRSS(t)>>20)
	var remotes []string
	for i := range 4 {
		name := fmt.Sprintf("big%d", i)
		remotes = append(remotes, s.Hosted(t, name))
		dir := "work" + strconv.Itoa(i)
		s.Must(t, "", "git", "clone", "-q", remotes[i], dir)
		s.Must(t, dir, "git", "checkout", "-q", "-b", "drafts/cms/v1")
		s.writeConfigMaps(t, dir, "cms", 4)
		s.Must(t, dir, "git", "add", ".")
		s.Must(t, dir, "git", "commit", "-qm", "Add ConfigMaps")
	}
	var wg sync.WaitGroup
	errs := make([]string, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, errOut, err := s.Run("work"+strconv.Itoa(i), "git", "push", "-q", "origin", "drafts/cms/v1"); err != nil {
				errs[i] = fmt.Sprintf("%v\n%s%s", err, out, errOut)
			}
		}()
	}
	wg.Wait()
	for i, e := range errs {
		if e != "" {
			t.Errorf("push to big%d: %s", i, e)
		}
	}
	for i := range 4 {
		path := fmt.Sprintf("/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions/big%d.cms.v1", i)
		if code, body := s.Do(t, "GET", path, nil); code != 200 {
			t.Errorf("GET big%d's draft: %d %s", i, code, body)
		}
	}
	peak := s.peakRSS(t)
	t.Logf("server peak RSS %d MiB (budget %d MiB + base %d MiB)", peak>>20, budget>>20, memoryBase>>20)
	if peak > budget+memoryBase {
		t.Errorf("server peak RSS %d MiB, more than its budget of %d MiB and base of %d MiB", peak>>20, budget>>20, memoryBase>>20)
	}

	// 4 MB of files are counted 80 MiB: more than the whole budget.
	s.Must(t, "work0", "git", "checkout", "-q", "-b", "drafts/huge/v1")
	s.writeConfigMaps(t, "work0", "huge", 8)
	s.Must(t, "work0", "git", "add", ".")
	s.Must(t, "work0", "git", "commit", "-qm", "Add too much")
	out, errOut, err := s.Run("work0", "git", "push", "origin", "drafts/huge/v1")
	if err == nil {
		t.Fatalf("a package larger than the budget was accepted:\n%s%s", out, errOut)
	}
	for _, want := range []string{"huge: error: package of 4.", "not validated: package too large for the validation memory budget",
		"more than the whole budget of 64.0 MiB (--validation-memory) [memory]"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("push refused without saying %q:\n%s", want, errOut)
		}
	}
	if refs := s.Must(t, "work0", "git", "ls-remote", "origin"); strings.Contains(refs, "huge") {
		t.Errorf("the refused push changed the repository:\n%s", refs)
	}
}
