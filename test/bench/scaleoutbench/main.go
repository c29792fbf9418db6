// Command scaleoutbench measures pkgserver on PostgreSQL side by side with
// SQLite, in one run: a full index of a generated repository of P packages
// × R revisions into each (time, peak RSS, size on disk), then the API of
// `pkgserver serve` over each index (gets by name and filtered lists of one
// package, p50/p99) and approvals through it; then webhook deliveries
// ingested through one replica and through two on one PostgreSQL
// database, every one checked in the database. It starts a throwaway PostgreSQL cluster of its own
// (internal/store/pgtest, durable as in production: fsync and synchronous
// commits on) and stops it at the end, or its watchdog does if this
// process dies first. It prints a Markdown report.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/pkgserver/pkgserver/internal/store/pgtest"
	"github.com/pkgserver/pkgserver/test/bench/benchutil"
	"github.com/pkgserver/pkgserver/test/bench/repogen"
)

// repoName is the repository registered in every index.
const repoName = "bench"

// config is what the flags ask for.
type config struct {
	out, bin           string
	packages, revision int
	runs, rounds       int
	conns, approvals   int
	duration           time.Duration
	deliveries, hooks  int
}

func main() {
	var cfg config
	flag.StringVar(&cfg.out, "out", "test/bench/_out/scaleout", "working directory (emptied first)")
	flag.StringVar(&cfg.bin, "pkgserver", "bin/pkgserver", "pkgserver binary")
	flag.IntVar(&cfg.packages, "packages", 10000, "packages of the generated repository")
	flag.IntVar(&cfg.revision, "revisions", 10, "published revisions of every package")
	flag.IntVar(&cfg.runs, "runs", 3, "full indexes into each database (the median is reported)")
	flag.IntVar(&cfg.rounds, "rounds", 3, "rounds of each API load phase (the median round is reported)")
	flag.IntVar(&cfg.conns, "concurrency", 8, "keep-alive connections of the API load")
	flag.IntVar(&cfg.approvals, "approvals", 30, "approvals through the API measured on each database, after one warm-up")
	flag.IntVar(&cfg.deliveries, "deliveries", 10000, "webhook deliveries of each ingest burst")
	flag.IntVar(&cfg.hooks, "webhook-concurrency", 16, "keep-alive connections of the ingest bursts, spread over the replicas")
	flag.DurationVar(&cfg.duration, "duration", 10*time.Second, "length of each API load phase")
	flag.Parse()
	log.SetFlags(0)
	var rep report
	rep.cfg, rep.began, rep.loadBefore = cfg, time.Now(), benchutil.LoadAvg()

	cfg.out, cfg.bin = benchutil.Workdir(cfg.out, cfg.bin)
	pg := &pgtest.Cluster{Durable: true}
	if err := pg.Launch(); err != nil {
		log.Fatalf("start PostgreSQL: %v", err)
	}
	// A failure ending the process (log.Fatal) skips this; the cluster's
	// watchdog then stops it within a second.
	defer pg.Stop()
	rep.pgVersion = pg.Version(context.Background())
	run(context.Background(), cfg, pg, &rep)
	rep.loadAfter, rep.took = benchutil.LoadAvg(), time.Since(rep.began)
	rep.print(os.Stdout)
}

// run measures both backends, filling rep.
func run(ctx context.Context, cfg config, pg *pgtest.Cluster, rep *report) {
	spec := repogen.Spec{Packages: cfg.packages, Revisions: cfg.revision, Drafts: cfg.packages / 20, Proposals: cfg.packages / 40}
	gen := filepath.Join(cfg.out, "repo.git")
	start := time.Now()
	if err := repogen.Generate(gen, spec); err != nil {
		log.Fatal(err)
	}
	log.Printf("generated %d × %d in %.1f s", cfg.packages, cfg.revision, time.Since(start).Seconds())
	rep.backends = []*backend{{name: "SQLite"}, {name: "PostgreSQL", pg: pg}}
	// Each backend its own copy of the repository: the approvals write
	// into it.
	for _, b := range rep.backends {
		b.repoDir = filepath.Join(cfg.out, "repo-"+b.tag()+".git")
		if out, err := exec.Command("cp", "-a", gen, b.repoDir).CombinedOutput(); err != nil {
			log.Fatalf("copy the repository: %v: %s", err, out)
		}
	}
	// The backends in turn, run after run, so that both see the same
	// state of the machine.
	for i := range cfg.runs {
		for _, b := range rep.backends {
			r := b.fullIndex(ctx, cfg.out, cfg.bin, b.repoDir, i)
			log.Printf("%s: full index %d: %.2f s, %d MiB RSS, %d MiB", b.name, i, r.took.Seconds(), r.rssKB>>10, r.bytes>>20)
		}
	}
	for _, b := range rep.backends {
		srv, synced := b.startServer(cfg.bin, cfg.out)
		b.startSync = synced
		b.api = measureAPI(srv, cfg.packages, cfg.conns, cfg.rounds, cfg.duration)
		log.Printf("%s: get p99 %.2f ms, list p99 %.2f ms", b.name, benchutil.Ms(b.api.get.P99), benchutil.Ms(b.api.list.P99))
		b.approve = measureApprovals(srv, cfg.packages, cfg.approvals)
		log.Printf("%s: approve p50 %.1f ms, p99 %.1f ms", b.name, benchutil.Ms(b.approve.p50), benchutil.Ms(b.approve.p99))
		srv.Stop()
	}
	if cfg.deliveries > 0 {
		w := newWebhookSetup(cfg.out)
		for _, replicas := range []int{1, 2} {
			r := measureIngest(ctx, pg, w, cfg.bin, cfg.out, replicas, cfg.deliveries, cfg.hooks)
			log.Printf("%d replica(s): %.0f deliveries/s end to end, %d lost", replicas, r.rate(), r.check.Lost)
			rep.ingest = append(rep.ingest, r)
		}
	}
}

// machine describes where the bench ran.
func machine() string {
	return fmt.Sprintf("%d cores (%s)", numCPU(), benchutil.CPUModel())
}
