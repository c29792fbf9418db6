// Command renderbench measures rendering: `pkgserver fn render` of a
// package of 100 resources whose pipeline runs four built-in functions
// (set-namespace, set-labels, apply-replacements, starlark), in process
// and as the command a user runs; and a PUT of that package's resources
// through the API end to end (render, validate, commit, index) in
// repositories of 10 and 1,000 packages side by side, beside a PUT of the
// same package without a pipeline, from this separate process on
// loopback. Afterwards git is asked whether the draft holds the rendered
// package of the last PUT. It prints a Markdown report.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/pkgserver/pkgserver/internal/render/rendertest"
	"github.com/pkgserver/pkgserver/test/bench/benchutil"
	"github.com/pkgserver/pkgserver/test/bench/repogen"
)

func main() {
	out := flag.String("out", "test/bench/_out/render", "working directory (emptied first)")
	pkgserver := flag.String("pkgserver", "bin/pkgserver", "pkgserver binary")
	sizes := flag.String("packages", "10,1000", "package counts of the repositories, measured side by side")
	resources := flag.Int("resources", 100, "resources of the package rendered")
	renders := flag.Int("renders", 200, "in-process renders measured, after 10 warm-up ones")
	runs := flag.Int("runs", 20, "runs of the fn render command measured")
	puts := flag.Int("puts", 30, "PUTs measured per repository and package, after one warm-up each")
	flag.Parse()
	log.SetFlags(0)
	began, loadBefore := time.Now(), benchutil.LoadAvg()

	dir, bin := benchutil.Workdir(*out, *pkgserver)
	var err error

	rep := &report{resources: *resources, sizes: *sizes, loadBefore: loadBefore}
	files := rendertest.Package("render", *resources, "registry.example.com/app:1.0.0", true)
	// In process twice: with Go's default garbage collection, as
	// pkgserver serve runs, then with GOGC=200, as an operator may set it
	// for the server (cmd/pkgserver/gc.go).
	if rep.inProcess, err = renderInProcess(files, *renders); err != nil {
		log.Fatal(err)
	}
	prevGC := debug.SetGCPercent(200)
	rep.inProcessGOGC200, err = renderInProcess(files, *renders)
	debug.SetGCPercent(prevGC)
	if err != nil {
		log.Fatal(err)
	}
	if rep.command, err = renderCommand(bin, filepath.Join(dir, "cli"), files, *runs); err != nil {
		log.Fatal(err)
	}

	var repos []*repo
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			log.Fatalf("-packages %q: want positive counts", s)
		}
		r := &repo{name: fmt.Sprintf("r%d", n), packages: n, gitDir: filepath.Join(dir, fmt.Sprintf("r%d.git", n))}
		if err := repogen.Generate(r.gitDir, repogen.Spec{Packages: n, Revisions: 3}); err != nil {
			log.Fatal(err)
		}
		if err := addPackages(r.gitDir, filepath.Join(dir, "work-"+r.name), *resources); err != nil {
			log.Fatal(err)
		}
		repos = append(repos, r)
	}
	srv := benchutil.StartServer(bin, filepath.Join(dir, "data"), filepath.Join(dir, "serve.log"), benchutil.ServerOptions{
		HTTP: &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}})
	for _, r := range repos {
		r.sync, r.synced = srv.Register(r.name, map[string]any{"git": map[string]any{"url": r.gitDir}}, 5*time.Minute)
		for _, v := range variants {
			if err := r.draft(srv, v); err != nil {
				srv.Stop()
				log.Fatal(err)
			}
		}
	}
	// The repositories and packages in turn, so that each sees the same
	// state of the machine; the first round warms up.
	for round := 0; round <= *puts; round++ {
		for _, r := range repos {
			for _, v := range variants {
				p := r.put(srv, v, round)
				if p.err != nil {
					log.Printf("%s %s round %d: %v", r.name, v.pkg, round, p.err)
				}
				if round > 0 {
					r.puts[v.pkg] = append(r.puts[v.pkg], p)
				}
			}
		}
	}
	if code, body, _, err := srv.Do("GET", "/metrics", nil); err == nil && code == 200 {
		rep.server = parseRenderMetric(string(body))
	}
	srv.Stop()
	for _, r := range repos {
		r.verify()
	}
	rep.repos, rep.loadAfter, rep.took = repos, benchutil.LoadAvg(), time.Since(began)
	rep.print(os.Stdout)
	if !rep.correct() {
		os.Exit(1)
	}
}
