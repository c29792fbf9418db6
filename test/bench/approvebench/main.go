// Command approvebench measures publishing through pkgserver's API: the
// approval of a proposal (PUT …/packagerevisions/{name}/approval with
// lifecycle Published), in a repository of few packages and of many side
// by side, from this separate load process on loopback. Each publication
// copies a package's newest published revision into a Draft, edits its
// ConfigMap, proposes and approves it; every step is timed, the approval
// being the figure the goal is about. Afterwards it checks with git that
// every approval made its own v<N> tag on a commit of main. It prints a
// Markdown report.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pkgserver/pkgserver/test/bench/benchutil"
	"github.com/pkgserver/pkgserver/test/bench/repogen"
)

func main() {
	out := flag.String("out", "test/bench/_out/approve", "working directory (emptied first)")
	pkgserver := flag.String("pkgserver", "bin/pkgserver", "pkgserver binary")
	sizes := flag.String("packages", "10,1000", "package counts of the repositories, measured side by side")
	revisions := flag.Int("revisions", 3, "published revisions of every package in the generated repositories")
	pubs := flag.Int("publications", 30, "publications measured per repository, after one warm-up each")
	flag.Parse()
	log.SetFlags(0)
	began, loadBefore := time.Now(), benchutil.LoadAvg()

	dir, bin := benchutil.Workdir(*out, *pkgserver)
	var err error

	var repos []*repo
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			log.Fatalf("-packages %q: want positive counts", s)
		}
		r := &repo{PublishTarget: benchutil.PublishTarget{Repo: fmt.Sprintf("r%d", n), Packages: n, Latest: map[int]benchutil.Published{}}, gitDir: filepath.Join(dir, fmt.Sprintf("r%d.git", n))}
		start := time.Now()
		if err := repogen.Generate(r.gitDir, repogen.Spec{Packages: n, Revisions: *revisions}); err != nil {
			log.Fatal(err)
		}
		r.generate = time.Since(start)
		repos = append(repos, r)
	}

	// One keep-alive connection, as a client such as kpt or a controller
	// would hold.
	srv := benchutil.StartServer(bin, filepath.Join(dir, "data"), filepath.Join(dir, "serve.log"), benchutil.ServerOptions{
		HTTP: &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}})
	for _, r := range repos {
		r.sync, r.synced = srv.Register(r.Repo, map[string]any{"git": map[string]any{"url": r.gitDir}}, 5*time.Minute)
	}
	// The repositories in turn, one publication each, so that both see
	// the same state of the machine; the first round warms up.
	for round := 0; round <= *pubs; round++ {
		for _, r := range repos {
			p := publish(srv, r, round)
			if p.Err != nil {
				log.Printf("%s round %d: %v", r.Repo, round, p.Err)
			}
			if round == 0 {
				r.warmUp = append(r.warmUp, p)
			} else {
				r.pubs = append(r.pubs, p)
			}
		}
	}
	srv.Stop()

	checks := make([]check, len(repos))
	for i, r := range repos {
		if checks[i], err = verify(r, *revisions); err != nil {
			log.Fatal(err)
		}
		if r.base, err = measureBaseline(r.gitDir); err != nil {
			log.Fatal(err)
		}
	}
	rep := report{repos: repos, checks: checks, revisions: *revisions, pubs: *pubs, sizes: *sizes,
		loadBefore: loadBefore, loadAfter: benchutil.LoadAvg(), took: time.Since(began)}
	rep.print(os.Stdout)
	if !rep.correct() {
		os.Exit(1)
	}
}
