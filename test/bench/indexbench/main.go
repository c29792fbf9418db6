// Command indexbench measures indexing: a full `pkgserver reindex` of a
// generated repository of P packages × R revisions against the git
// baseline listing the same refs, and the incremental update after a push
// changing one package, at several P. It prints a Markdown report.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pkgserver/pkgserver/internal/reconcile"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store/sqlstore"
	"github.com/pkgserver/pkgserver/internal/store/storetest"
	"github.com/pkgserver/pkgserver/test/bench/benchutil"
	"github.com/pkgserver/pkgserver/test/bench/repogen"
)

func main() {
	out := flag.String("out", "test/bench/_out/index", "working directory")
	pkgserver := flag.String("pkgserver", "bin/pkgserver", "pkgserver binary")
	sizes := flag.String("packages", "1000,10000", "package counts to measure")
	revisions := flag.Int("revisions", 10, "published revisions per package")
	runs := flag.Int("runs", 3, "runs of each full measurement")
	pushes := flag.Int("pushes", 30, "one-package pushes measured per size")
	flag.Parse()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("Machine: %d cores (%s). Median of %d runs; incremental figures over %d pushes.\n\n", runtime.NumCPU(), benchutil.CPUModel(), *runs, *pushes)
	fmt.Println("| P × R | revisions | git baseline | full index | ratio | peak RSS | index on disk | incremental p50 | p90 | max |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|")
	var p50s []time.Duration
	var notes []string
	for _, s := range strings.Split(*sizes, ",") {
		p, err := strconv.Atoi(s)
		if err != nil {
			log.Fatal(err)
		}
		spec := repogen.Spec{Packages: p, Revisions: *revisions, Drafts: p / 20, Proposals: p / 40}
		r := measure(*out, *pkgserver, spec, *runs, *pushes)
		p50s = append(p50s, r.p50)
		notes = append(notes, fmt.Sprintf("P=%d: baseline parts: for-each-ref %.2f s, ls-tree -r of the %d tagged commits %.2f s, ls-tree -r of %d drafts' and proposals' packages %.2f s (%.1f ms a process)",
			p, r.parts[0].Seconds(), *revisions, r.parts[1].Seconds(), spec.Drafts+spec.Proposals, r.parts[2].Seconds(),
			benchutil.Ms(r.parts[2])/float64(max(spec.Drafts+spec.Proposals, 1))))
		fmt.Printf("| %d × %d | %d | %.2f s | %.2f s | %.1f× | %d MiB | %d MiB | %.1f ms | %.1f ms | %.1f ms |\n",
			p, *revisions, r.revisions, r.baseline.Seconds(), r.full.Seconds(), r.full.Seconds()/r.baseline.Seconds(),
			r.rssKB/1024, r.diskBytes>>20, benchutil.Ms(r.p50), benchutil.Ms(r.p90), benchutil.Ms(r.max))
	}
	fmt.Println()
	for _, n := range notes {
		fmt.Println(n)
	}
	if len(p50s) >= 2 {
		fmt.Printf("\nIncremental p50 ratio, largest P / smallest P: %.2f\n", float64(p50s[len(p50s)-1])/float64(p50s[0]))
	}
}

type result struct {
	parts          [3]time.Duration
	revisions      int
	baseline, full time.Duration
	rssKB          int64
	diskBytes      int64
	p50, p90, max  time.Duration
}

func measure(out, pkgserver string, spec repogen.Spec, runs, pushes int) result {
	ctx := context.Background()
	repoDir, err := filepath.Abs(filepath.Join(out, fmt.Sprintf("repo-%d-%d.git", spec.Packages, spec.Revisions)))
	if err != nil {
		log.Fatal(err)
	}
	// The repository is regenerated for each measurement: pushes change it.
	os.RemoveAll(repoDir)
	if err := repogen.Generate(repoDir, spec); err != nil {
		log.Fatal(err)
	}
	var res result
	var baselines, fulls []time.Duration
	var dataDir string
	for i := range runs {
		baselines = append(baselines, baseline(repoDir))
		dataDir = filepath.Join(out, fmt.Sprintf("data-%d-%d", spec.Packages, i))
		os.RemoveAll(dataDir)
		register(ctx, dataDir, repoDir)
		cmd := exec.Command(pkgserver, "reindex", "--data", dataDir)
		var stdout strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, os.Stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			log.Fatalf("reindex: %v", err)
		}
		fulls = append(fulls, time.Since(start))
		res.rssKB = max(res.rssKB, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss)
		if n, err := fmt.Sscanf(stdout.String(), "default/bench: %d packages, %d revisions", new(int), &res.revisions); n != 2 || err != nil {
			log.Fatalf("reindex printed %q", stdout.String())
		}
		if i < runs-1 {
			os.RemoveAll(dataDir)
		}
	}
	res.baseline, res.full = benchutil.Median(baselines), benchutil.Median(fulls)
	_, res.parts = baselineParts(repoDir)
	res.diskBytes = benchutil.DirSize(dataDir)

	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(dataDir, "index.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	rec := reconcile.New(st, &reconcile.GitSource{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	rng := rand.New(rand.NewPCG(uint64(spec.Packages), 7))
	var times []time.Duration
	for k := range pushes {
		i := rng.IntN(spec.Packages)
		oldHead, newHead, err := repogen.AppendCommit(repoDir, spec, i, fmt.Sprintf("push-%d", k))
		if err != nil {
			log.Fatal(err)
		}
		start := time.Now()
		r, err := rec.Sync(ctx, "default", "bench", revision.RefUpdate{Ref: "refs/heads/main", Old: oldHead, New: newHead})
		if err != nil {
			log.Fatal(err)
		}
		times = append(times, time.Since(start))
		if r.Packages != 1 {
			log.Fatalf("a one-package push re-derived %d packages", r.Packages)
		}
	}
	slices.Sort(times)
	res.p50, res.p90, res.max = times[len(times)/2], times[len(times)*9/10], times[len(times)-1]
	return res
}

// register creates a data directory whose index knows the repository.
func register(ctx context.Context, dataDir, repoDir string) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		log.Fatal(err)
	}
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(dataDir, "index.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	repo := storetest.NewRepository("default", "bench")
	repo.Object.Spec.Git.URL = repoDir
	if err := st.CreateRepository(ctx, repo); err != nil {
		log.Fatal(err)
	}
}

// baseline lists, with plain git, what the index reads: every ref, and the
// files of each commit the refs lead to — the whole tree of a commit carrying
// tags (every package's tag points there), the package's directory for a
// draft or proposal, whose commit carries that package alone.
func baseline(repoDir string) time.Duration {
	d, _ := baselineParts(repoDir)
	return d
}

// baselineParts returns the baseline's time, and that of its parts: the
// ref listing, the trees of the tagged commits, the drafts' and proposals'
// packages.
func baselineParts(repoDir string) (time.Duration, [3]time.Duration) {
	var parts [3]time.Duration
	start := time.Now()
	refs := gitOut(repoDir, "for-each-ref", "--format=%(objectname) %(refname)")
	tagged := map[string]bool{}
	type branch struct{ commit, path string }
	var branches []branch
	for _, line := range strings.Split(strings.TrimSpace(refs), "\n") {
		commit, ref, _ := strings.Cut(line, " ")
		switch {
		case strings.HasPrefix(ref, "refs/tags/"):
			tagged[commit] = true
		case strings.HasPrefix(ref, "refs/heads/drafts/"), strings.HasPrefix(ref, "refs/heads/proposed/"):
			rest := ref[strings.Index(ref[len("refs/heads/"):], "/")+len("refs/heads/")+1:]
			branches = append(branches, branch{commit, rest[:strings.LastIndex(rest, "/")]})
		}
	}
	parts[0] = time.Since(start)
	for c := range tagged {
		gitOut(repoDir, "ls-tree", "-r", c)
	}
	parts[1] = time.Since(start) - parts[0]
	for _, b := range branches {
		gitOut(repoDir, "ls-tree", "-r", b.commit, "--", b.path)
	}
	parts[2] = time.Since(start) - parts[0] - parts[1]
	return time.Since(start), parts
}

func gitOut(dir string, args ...string) string {
	cmd := exec.Command("git", append([]string{"--git-dir=" + dir}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		log.Fatalf("git %v: %v", args, err)
	}
	return string(out)
}
