// Command validatecmp measures `pkgserver validate` and kubectl-validate
// side by side on one corpus (see ../gencorpus): wall time, CPU time, peak
// memory and resources per second over several alternating runs, and
// whether the schema errors the two report agree with each other and with
// the defects the generator injected. It prints a Markdown report.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/pkgserver/pkgserver/test/bench/benchutil"
)

type tool struct {
	name string
	args []string
	runs []sample
	out  []byte
}

type sample struct {
	wall, cpu time.Duration
	maxRSSKB  int64
}

func main() {
	pkgserver := flag.String("pkgserver", "bin/pkgserver", "pkgserver binary")
	kv := flag.String("kubectl-validate", "kubectl-validate", "kubectl-validate binary")
	corpus := flag.String("corpus", "test/bench/_out/corpus", "corpus written by gencorpus")
	runs := flag.Int("runs", 5, "runs of each tool")
	flag.Parse()

	pkgs := filepath.Join(*corpus, "pkgs")
	crds := filepath.Join(*corpus, "crds")
	resources := countResources(pkgs)
	tools := []*tool{
		{name: "pkgserver validate (schemas and default policies)", args: []string{*pkgserver, "validate", "-o", "json", "--schemas", crds, pkgs}},
		{name: "pkgserver validate --no-default-policies", args: []string{*pkgserver, "validate", "-o", "json", "--no-default-policies", "--schemas", crds, pkgs}},
		{name: "kubectl-validate v0.0.4 (--version 1.30)", args: []string{*kv, "--version", "1.30", "-o", "json", "--local-crds", crds, pkgs}},
	}
	for _, t := range tools {
		t.run() // warm the page cache and any on-disk caches
	}
	for range *runs {
		for _, t := range tools {
			t.runs = append(t.runs, t.run())
		}
	}

	defects := readDefects(filepath.Join(*corpus, "defects.tsv"))
	ours := pkgserverErrors(tools[0].out, *corpus)
	theirs := kubectlValidateErrors(tools[2].out, *corpus)

	fmt.Printf("Corpus: %d packages, %d resources (one per file), %d injected schema defects. Machine: %d cores (%s).\n\n",
		countPackages(pkgs), resources, len(defects), runtime.NumCPU(), benchutil.CPUModel())
	fmt.Printf("| tool | median wall | median CPU (user+sys) | peak RSS | resources/s (wall) |\n|---|---|---|---|---|\n")
	base := median(tools[2].runs).wall
	for _, t := range tools {
		m := median(t.runs)
		fmt.Printf("| %s | %.2f s | %.2f s | %d MiB | %.0f (%.1f× kubectl-validate) |\n", t.name, m.wall.Seconds(), m.cpu.Seconds(),
			m.maxRSSKB/1024, float64(resources)/m.wall.Seconds(), base.Seconds()/m.wall.Seconds())
	}
	fmt.Printf("\nSchema errors, as (file, field) pairs:\n\n")
	fmt.Printf("| | count | injected defects found | agrees with the other tool |\n|---|---|---|---|\n")
	fmt.Printf("| pkgserver | %d | %d of %d | %d of %d also reported by kubectl-validate |\n",
		len(ours), overlap(defects, ours), len(defects), overlap(ours, theirs), len(ours))
	fmt.Printf("| kubectl-validate | %d | %d of %d | %d of %d also reported by pkgserver |\n",
		len(theirs), overlap(defects, theirs), len(defects), overlap(theirs, ours), len(theirs))
	for _, d := range difference(ours, theirs) {
		fmt.Printf("\nonly pkgserver: %s", d)
	}
	for _, d := range difference(theirs, ours) {
		fmt.Printf("\nonly kubectl-validate: %s", d)
	}
	fmt.Println()
}

func (t *tool) run() sample {
	cmd := exec.Command(t.args[0], t.args[1:]...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	var ee *exec.ExitError
	if err != nil && !(errorsAs(err, &ee) && ee.ExitCode() == 1) {
		log.Fatalf("%s: %v\n%s", strings.Join(t.args, " "), err, out.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	t.out = out.Bytes()
	return sample{
		wall:     wall,
		cpu:      time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		maxRSSKB: ru.Maxrss,
	}
}

func errorsAs(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*target = e
	}
	return ok
}

func median(s []sample) sample {
	sorted := slices.Clone(s)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].wall < sorted[j].wall })
	m := sorted[len(sorted)/2]
	var rss int64
	for _, x := range s {
		rss = max(rss, x.maxRSSKB)
	}
	m.maxRSSKB = rss
	return m
}

func countResources(dir string) int {
	n := 0
	if err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasSuffix(p, ".yaml") {
			n++
		}
		return nil
	}); err != nil {
		log.Fatal(err)
	}
	return n
}

func countPackages(dir string) int {
	entries, err := os.ReadDir(dir)
	if err != nil {
		log.Fatal(err)
	}
	return len(entries)
}

type set map[string]bool

func key(file, field string) string { return file + " " + field }

func readDefects(path string) set {
	f, err := os.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	out := set{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Split(sc.Text(), "\t")
		out[key(parts[0], parts[1])] = true
	}
	return out
}

// pkgserverErrors reads a ValidationReport's schema errors.
func pkgserverErrors(out []byte, corpus string) set {
	var report struct {
		Results []struct {
			Severity string
			Check    string
			File     struct{ Path string }
			Field    *struct{ Path string }
		}
	}
	if err := json.Unmarshal(out, &report); err != nil {
		log.Fatalf("pkgserver output: %v", err)
	}
	s := set{}
	for _, r := range report.Results {
		if r.Check != "schema" || r.Severity != "error" {
			continue
		}
		field := ""
		if r.Field != nil {
			field = r.Field.Path
		}
		rel, _ := filepath.Rel(corpus, r.File.Path)
		s[key(rel, field)] = true
	}
	return s
}

// kubectlValidateErrors reads kubectl-validate's map of file to statuses.
func kubectlValidateErrors(out []byte, corpus string) set {
	// The JSON object is followed by "Error: validation failed".
	end := bytes.LastIndexByte(out, '}')
	var report map[string][]struct {
		Status  string
		Message string
		Details *struct {
			Causes []struct{ Field string }
		}
	}
	if end < 0 || json.Unmarshal(out[:end+1], &report) != nil {
		log.Fatalf("kubectl-validate output: %s", out)
	}
	s := set{}
	for file, statuses := range report {
		rel, _ := filepath.Rel(corpus, file)
		for _, st := range statuses {
			if st.Status != "Failure" {
				continue
			}
			found := false
			if st.Details != nil {
				for _, c := range st.Details.Causes {
					if c.Field == "" || c.Field == "<nil>" {
						continue
					}
					s[key(rel, c.Field)] = true
					found = true
				}
			}
			if !found {
				s[key(rel, "")] = true
			}
		}
	}
	return s
}

func overlap(a, b set) int {
	n := 0
	for k := range a {
		if b[k] {
			n++
		}
	}
	return n
}

func difference(a, b set) []string {
	var out []string
	for k := range a {
		if !b[k] {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
