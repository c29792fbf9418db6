// Command memorybench measures the memory of validating a package of about
// 28 MB of ConfigMaps (15 files, within every limit) with two builds of
// pkgserver side by side: the peak RSS of `pkgserver validate` on several
// shapes of package, and of a server validating one push of it and four
// pushes at once to four hosted repositories. It prints a Markdown report.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pkgserver/pkgserver/test/bench/benchutil"
)

// fileBytes keeps each file below the 2 MiB limit of a file.
const (
	files     = 15
	fileBytes = 2<<20 - 64<<10
)

// shapes are packages of the same size with few or many YAML nodes per byte.
var shapes = map[string]func(f, i int) string{
	// 999 ConfigMaps a file, ten values of 170 bytes each.
	"configmaps": func(f, i int) string {
		var b strings.Builder
		fmt.Fprintf(&b, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d-%d\n  namespace: default\ndata:\n", f, i)
		for k := range 10 {
			fmt.Fprintf(&b, "  key%d: %s\n", k, strings.Repeat("v", 170))
		}
		return b.String()
	},
	// 999 ConfigMaps a file, 140 short keys each: the most nodes per byte.
	"short-keys": func(f, i int) string {
		var b strings.Builder
		fmt.Fprintf(&b, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d-%d\ndata:\n", f, i)
		for k := range 140 {
			fmt.Fprintf(&b, "  k%03d: v%03d\n", k, k)
		}
		return b.String()
	},
	// Two ConfigMaps a file, twenty values of 50 KB each.
	"large-values": func(f, i int) string {
		var b strings.Builder
		fmt.Fprintf(&b, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d-%d\ndata:\n", f, i)
		for k := range 20 {
			fmt.Fprintf(&b, "  key%d: %s\n", k, strings.Repeat("x", (fileBytes/2-4096)/20))
		}
		return b.String()
	},
}

func main() {
	oldBin := flag.String("old", "", "pkgserver built before the change")
	newBin := flag.String("new", "bin/pkgserver", "pkgserver of this checkout")
	out := flag.String("out", "test/bench/_out/memory", "working directory")
	cliShapes := flag.String("cli-shapes", "configmaps,short-keys,large-values", "shapes of package validated with the CLI")
	serverShape := flag.String("server-shape", "configmaps", "shape of package pushed to the servers")
	flag.Parse()
	if err := os.RemoveAll(*out); err != nil {
		log.Fatal(err)
	}
	builds := []build{{"after", *newBin}}
	if *oldBin != "" {
		builds = append([]build{{"before", *oldBin}}, builds...)
	}
	for i := range builds {
		abs, err := filepath.Abs(builds[i].bin)
		if err != nil {
			log.Fatal(err)
		}
		builds[i].bin = abs
	}

	fmt.Printf("Machine: %d cores (%s), load %s. Package: %d files of ConfigMaps, each below 2 MiB.\n\n",
		runtime.NumCPU(), benchutil.CPUModel(), benchutil.LoadAvg(), files)
	fmt.Printf("`pkgserver validate -o json PKG`, peak RSS (wall time):\n\n| shape | size |")
	for _, b := range builds {
		fmt.Printf(" %s |", b.name)
	}
	fmt.Printf("\n|---|---|%s\n", strings.Repeat("---|", len(builds)))
	for _, shape := range strings.FieldsFunc(*cliShapes, func(r rune) bool { return r == ',' }) {
		dir := filepath.Join(*out, shape, "pkg")
		size := writePackage(dir, shape)
		fmt.Printf("| %s | %.1f MB |", shape, float64(size)/1e6)
		for _, b := range builds {
			rss, wall, err := runCLI(b.bin, dir)
			fmt.Printf(" %s |", cell(rss, wall, err, size))
		}
		fmt.Println()
	}

	pkg := filepath.Join(*out, *serverShape, "pkg")
	size := writePackage(pkg, *serverShape)
	fmt.Printf("\n`pkgserver serve` (default flags), a push of the %s package (%.1f MB) over smart HTTP to a hosted repository, pre-receive validation included; server peak RSS (VmHWM) and wall time of the pushes:\n\n| pushes |", *serverShape, float64(size)/1e6)
	for _, b := range builds {
		fmt.Printf(" %s |", b.name)
	}
	fmt.Printf("\n|---|%s\n", strings.Repeat("---|", len(builds)))
	for _, n := range []int{1, 4} {
		fmt.Printf("| %d at once |", n)
		for _, b := range builds {
			rss, wall, err := pushes(b.bin, filepath.Join(*out, fmt.Sprintf("serve-%s-%d", b.name, n)), pkg, n)
			fmt.Printf(" %s |", cell(rss, wall, err, int64(n)*size))
		}
		fmt.Println()
	}
}

type build struct{ name, bin string }

func cell(rss int64, wall time.Duration, err error, size int64) string {
	if err != nil {
		return "failed: " + strings.ReplaceAll(err.Error(), "\n", " ")
	}
	return fmt.Sprintf("%d MiB (%.0f× the YAML), %.1f s", rss>>20, float64(rss)/float64(size), wall.Seconds())
}

// writePackage writes a package of the shape into dir and returns its size.
func writePackage(dir, shape string) int64 {
	doc, ok := shapes[shape]
	if !ok {
		log.Fatalf("unknown shape %q", shape)
	}
	must(os.MkdirAll(dir, 0o755))
	kptfile := "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: pkg\n"
	must(os.WriteFile(filepath.Join(dir, "Kptfile"), []byte(kptfile), 0o644))
	size := int64(len(kptfile))
	for f := range files {
		var b strings.Builder
		for i := 0; i < 999; i++ {
			d := doc(f, i) + "---\n"
			if b.Len()+len(d) > fileBytes {
				break
			}
			b.WriteString(d)
		}
		must(os.WriteFile(filepath.Join(dir, fmt.Sprintf("cm%02d.yaml", f)), []byte(b.String()), 0o644))
		size += int64(b.Len())
	}
	return size
}

func runCLI(bin, dir string) (int64, time.Duration, error) {
	cmd := exec.Command(bin, "validate", "-o", "json", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return 0, wall, fmt.Errorf("%v: %s", err, stderr.String())
	}
	return cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10, wall, nil
}

// pushes starts a server with its own data directory, pushes the package to
// n hosted repositories at once and returns the server's peak RSS.
func pushes(bin, dir, pkg string, n int) (int64, time.Duration, error) {
	dir, err := filepath.Abs(dir)
	must(err)
	if pkg, err = filepath.Abs(pkg); err != nil {
		return 0, 0, err
	}
	must(os.MkdirAll(dir, 0o755))
	httpAddr := freeAddr()
	env := append(os.Environ(), "HOME="+dir, "PKGSERVER_SERVER=http://"+httpAddr, "PKGSERVER_DATA="+filepath.Join(dir, "data"),
		"GIT_AUTHOR_NAME=Bench", "GIT_AUTHOR_EMAIL=bench@example.com", "GIT_COMMITTER_NAME=Bench", "GIT_COMMITTER_EMAIL=bench@example.com",
		"GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0")
	logf, err := os.Create(filepath.Join(dir, "serve.log"))
	must(err)
	defer logf.Close()
	srv := exec.Command(bin, "serve", "--http", httpAddr, "--ssh", "", "--data", filepath.Join(dir, "data"))
	srv.Env, srv.Stdout, srv.Stderr = env, logf, logf
	must(srv.Start())
	defer func() {
		_ = srv.Process.Signal(syscall.SIGTERM)
		_ = srv.Wait()
	}()
	if err := benchutil.WaitReady(http.DefaultClient, "http://"+httpAddr, time.Minute); err != nil {
		return 0, 0, err
	}
	token, err := benchutil.AdminToken(filepath.Join(dir, "data"))
	must(err)
	run := func(wd string, name string, args ...string) error {
		cmd := exec.Command(name, args...)
		cmd.Dir, cmd.Env = wd, env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
		}
		return nil
	}
	for i := range n {
		name := fmt.Sprintf("big%d", i)
		work := filepath.Join(dir, name)
		must(os.MkdirAll(work, 0o755))
		remote := url.URL{Scheme: "http", User: url.UserPassword("git", token), Host: httpAddr, Path: "/git/default/" + name + ".git"}
		for _, c := range [][]string{
			{bin, "repo", "add", name, "--hosted"},
			{"git", "init", "-q", "-b", "drafts/pkg/v1"},
			{"cp", "-r", pkg, "pkg"},
			{"git", "add", "."},
			{"git", "commit", "-qm", "Add a large package"},
			{"git", "remote", "add", "origin", remote.String()},
		} {
			if err := run(work, c[0], c[1:]...); err != nil {
				return 0, 0, err
			}
		}
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = run(filepath.Join(dir, fmt.Sprintf("big%d", i)), "git", "push", "-q", "origin", "drafts/pkg/v1")
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return 0, wall, err
		}
	}
	return vmHWM(srv.Process.Pid), wall, nil
}

func vmHWM(pid int) int64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	must(err)
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			must(err)
			return kb << 10
		}
	}
	log.Fatal("no VmHWM")
	return 0
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	defer ln.Close()
	return ln.Addr().String()
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
