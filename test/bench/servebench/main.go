// Command servebench measures the API of a running `pkgserver serve` from a
// separate load process on loopback, with a generated repository of P
// packages × R revisions indexed: gets by name, filtered lists of one
// package's revisions, a full paginated list, and the server's memory. For
// scale it also measures the server's /healthz, the cost of HTTP alone.
// It prints a Markdown report.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/store/sqlstore"
	"github.com/pkgserver/pkgserver/internal/store/storetest"
	"github.com/pkgserver/pkgserver/test/bench/benchutil"
	"github.com/pkgserver/pkgserver/test/bench/repogen"
)

func main() {
	out := flag.String("out", "test/bench/_out/serve", "working directory")
	pkgserver := flag.String("pkgserver", "bin/pkgserver", "pkgserver binary")
	packages := flag.Int("packages", 10000, "packages in the generated repository")
	revisions := flag.Int("revisions", 10, "published revisions per package")
	duration := flag.Duration("duration", 10*time.Second, "length of each load phase")
	concurrency := flag.Int("concurrency", 8, "concurrent connections of the load")
	pageSize := flag.Int("page", 500, "page size of the full list")
	only := flag.String("only", "", "run only the load phases whose name contains this")
	flag.Parse()
	log.SetFlags(0)
	ctx := context.Background()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	spec := repogen.Spec{Packages: *packages, Revisions: *revisions, Drafts: *packages / 20, Proposals: *packages / 40}
	dataDir := prepare(ctx, *out, *pkgserver, spec)

	tok := createToken(*pkgserver, dataDir)
	srv := startServer(*pkgserver, dataDir, *out)
	defer srv.stop()
	c := newClient(srv.url, tok, *concurrency)
	startSync := c.waitSynced()
	idleRSS := srv.rss()

	// The full list, in pages, three times; its names feed the gets.
	var listTimes []time.Duration
	var names []string
	for i := range 3 {
		start := time.Now()
		n := c.fullList(*pageSize, i == 0, &names)
		listTimes = append(listTimes, time.Since(start))
		if n < 100000 && *packages >= 10000 {
			log.Fatalf("the full list has %d revisions", n)
		}
	}
	fmt.Printf("Machine: %d cores (%s). Server `pkgserver serve` and this load process on the same machine, over loopback; %d connections, %s per phase after 1 s of warm-up.\n\n",
		runtime.NumCPU(), benchutil.CPUModel(), *concurrency, *duration)
	fmt.Printf("Index: %d packages × %d revisions, %d package revisions (SQLite, %d MiB on disk). Sync at start (refs compared with the index, nothing changed): %.2f s.\n\n",
		*packages, *revisions, len(names), benchutil.DirSize(dataDir)>>20, startSync.Seconds())

	phases := loadPhases(names, *packages)
	// The phases run in turn, three rounds; each figure is the median
	// over the rounds (the machine is shared, and rounds vary by 20 %).
	const rounds = 3
	results := make([][]benchutil.LoadResult, len(phases))
	peaks := make([]int64, len(phases))
	peak := idleRSS
	for range rounds {
		for i, ph := range phases {
			if !strings.Contains(ph.name, *only) {
				continue
			}
			c.load(ph.path, time.Second, nil) // warm-up
			srv.resetPeak()
			results[i] = append(results[i], c.load(ph.path, *duration, srv))
			peaks[i] = max(peaks[i], srv.peak())
			peak = max(peak, peaks[i])
		}
	}
	printPhases(phases, results, peaks, rounds)
	fmt.Printf("\nFull paginated list (%d revisions, pages of %d, one connection): %.2f s median of 3 (%s).\n",
		len(names), *pageSize, benchutil.Median(listTimes).Seconds(), joinDurations(listTimes))
	fmt.Printf("\nServer RSS: %d MiB idle after the start-up sync, %d MiB peak under load; VmHWM (peak since start, start-up sync included) %d MiB.\n",
		idleRSS>>10, peak>>10, srv.hwm()>>10)
}

// phase is a load phase: requests to the paths path makes, for a while.
type phase struct {
	name string
	path func(r *rand.Rand) string
}

// loadPhases are the phases of the load, HTTP alone first: requests of
// random revisions (by name, from names) and of random packages.
func loadPhases(names []string, packages int) []phase {
	pkgs := make([]string, 0, packages)
	for i := range packages {
		pkgs = append(pkgs, repogen.PackagePath(i))
	}
	return []phase{
		{"`/healthz` (HTTP alone, no token, no index)", func(*rand.Rand) string { return "/healthz" }},
		{"get by name (`GET .../packagerevisions/{name}`)", func(r *rand.Rand) string {
			return "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions/" + names[r.IntN(len(names))]
		}},
		{"filtered list of one package's revisions (`fieldSelector=spec.packageName=P`)", func(r *rand.Rand) string {
			return "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions?fieldSelector=" +
				url.QueryEscape("spec.packageName="+pkgs[r.IntN(len(pkgs))])
		}},
		{"latest revision of one package (`fieldSelector` + `labelSelector=…latest-revision=true`)", func(r *rand.Rand) string {
			return "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions?fieldSelector=" +
				url.QueryEscape("spec.packageName="+pkgs[r.IntN(len(pkgs))]) + "&labelSelector=" +
				url.QueryEscape(pkgv1alpha1.LatestRevisionLabel+"=true")
		}},
	}
}

// printPhases prints the table of the phases: the median round's figures
// of each phase that ran.
func printPhases(phases []phase, results [][]benchutil.LoadResult, peaks []int64, rounds int) {
	fmt.Printf("Each phase ran %d times, in turn; the table gives the median round's figures (requests/s of every round in brackets).\n\n", rounds)
	fmt.Println("| phase | requests/s | p50 | p99 | max | errors | server peak RSS |")
	fmt.Println("|---|---|---|---|---|---|---|")
	var healthz float64
	for i, ph := range phases {
		rs := results[i]
		if len(rs) == 0 {
			continue
		}
		slices.SortFunc(rs, func(a, b benchutil.LoadResult) int { return int(a.RPS - b.RPS) })
		m := rs[len(rs)/2]
		var all []string
		var errs int64
		for _, r := range rs {
			all = append(all, fmt.Sprintf("%.0f", r.RPS))
			errs += r.Errors
		}
		ratio := ""
		if i == 0 {
			healthz = m.RPS
		} else if healthz > 0 {
			ratio = fmt.Sprintf(", %.2f× healthz", m.RPS/healthz)
		}
		fmt.Printf("| %s | %.0f (%s%s) | %.2f ms | %.2f ms | %.2f ms | %d | %d MiB |\n", ph.name, m.RPS, strings.Join(all, ", "), ratio,
			benchutil.Ms(m.P50), benchutil.Ms(m.P99), benchutil.Ms(m.Max), errs, peaks[i]>>10)
	}
}

// prepare generates the repository and indexes it once; later runs reuse
// the data directory.
func prepare(ctx context.Context, out, pkgserver string, spec repogen.Spec) string {
	repoDir, err := filepath.Abs(filepath.Join(out, fmt.Sprintf("repo-%d-%d.git", spec.Packages, spec.Revisions)))
	if err != nil {
		log.Fatal(err)
	}
	dataDir := filepath.Join(out, fmt.Sprintf("data-%d-%d", spec.Packages, spec.Revisions))
	if _, err := os.Stat(filepath.Join(dataDir, "ready")); err == nil {
		return dataDir
	}
	os.RemoveAll(repoDir)
	os.RemoveAll(dataDir)
	start := time.Now()
	if err := repogen.Generate(repoDir, spec); err != nil {
		log.Fatal(err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		log.Fatal(err)
	}
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(dataDir, "index.db"))
	if err != nil {
		log.Fatal(err)
	}
	repo := storetest.NewRepository("default", "bench")
	repo.Object.Spec.Git.URL = repoDir
	if err := st.CreateRepository(ctx, repo); err != nil {
		log.Fatal(err)
	}
	st.Close()
	cmd := exec.Command(pkgserver, "reindex", "--data", dataDir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		log.Fatalf("reindex: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "ready"), nil, 0o644); err != nil {
		log.Fatal(err)
	}
	log.Printf("generated and indexed in %.1f s", time.Since(start).Seconds())
	return dataDir
}

// createToken makes a read-only token for the load.
func createToken(pkgserver, dataDir string) string {
	name := "bench-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	b, err := exec.Command(pkgserver, "token", "create", name, "--role", "read", "--data", dataDir).Output()
	if err != nil {
		log.Fatalf("token create: %v", err)
	}
	return strings.TrimSpace(string(b))
}

type server struct {
	cmd     *exec.Cmd
	url     string
	mu      sync.Mutex
	maxRSS  int64
	done    chan struct{}
	stopped chan struct{}
}

func startServer(pkgserver, dataDir, out string) *server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	logf, err := os.Create(filepath.Join(out, "serve.log"))
	if err != nil {
		log.Fatal(err)
	}
	cmd := exec.Command(pkgserver, "serve", "--data", dataDir, "--http", addr)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	s := &server{cmd: cmd, url: "http://" + addr, done: make(chan struct{}), stopped: make(chan struct{})}
	go s.sample()
	if err := benchutil.WaitReady(http.DefaultClient, s.url, 60*time.Second); err != nil {
		log.Fatalf("%v (see %s)", err, logf.Name())
	}
	return s
}

// sample records the server's resident memory every 20 ms.
func (s *server) sample() {
	defer close(s.stopped)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			if v := s.status("VmRSS:"); v > 0 {
				s.mu.Lock()
				s.maxRSS = max(s.maxRSS, v)
				s.mu.Unlock()
			}
		}
	}
}

// status reads a field of /proc/PID/status, in KiB.
func (s *server) status(field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

func (s *server) rss() int64 { return s.status("VmRSS:") }
func (s *server) hwm() int64 { return s.status("VmHWM:") }

func (s *server) resetPeak() {
	s.mu.Lock()
	s.maxRSS = 0
	s.mu.Unlock()
}

func (s *server) peak() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxRSS
}

func (s *server) stop() {
	close(s.done)
	<-s.stopped
	_ = s.cmd.Process.Signal(os.Interrupt)
	_ = s.cmd.Wait()
}

type client struct {
	base  string
	token string
	http  *http.Client
	conns int
}

func newClient(base, token string, conns int) *client {
	tr := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	return &client{base: base, token: token, http: &http.Client{Transport: tr, Timeout: time.Minute}, conns: conns}
}

func (c *client) get(path string, into any) (int, error) {
	req, err := http.NewRequest(http.MethodGet, c.base+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if into == nil || resp.StatusCode != 200 {
		_, err = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, err
	}
	return resp.StatusCode, json.NewDecoder(resp.Body).Decode(into)
}

// waitSynced waits for the repository's sync at start and returns how long
// it took from now.
func (c *client) waitSynced() time.Duration {
	start := time.Now()
	for deadline := start.Add(10 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var r configv1alpha1.Repository
		code, err := c.get("/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/default/repositories/bench", &r)
		if err != nil || code != 200 {
			log.Fatalf("get repository: %d %v", code, err)
		}
		ready := meta.FindStatusCondition(r.Status.Conditions, "Ready")
		if ready != nil && ready.Status == "True" && r.Status.LastSyncTime != nil && !r.Status.LastSyncTime.Time.Before(start.Truncate(time.Second)) {
			return time.Since(start)
		}
		if ready != nil && ready.Status == "False" {
			log.Fatalf("sync failed: %s", ready.Message)
		}
	}
	log.Fatal("the repository did not sync within 10 minutes")
	return 0
}

// fullList reads every revision in pages and returns how many there are.
func (c *client) fullList(limit int, collect bool, names *[]string) int {
	n := 0
	cont := ""
	for {
		var l struct {
			Metadata struct {
				Continue string `json:"continue"`
			} `json:"metadata"`
			Items []struct {
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
			} `json:"items"`
		}
		code, err := c.get(fmt.Sprintf("/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions?limit=%d&continue=%s", limit, url.QueryEscape(cont)), &l)
		if err != nil || code != 200 {
			log.Fatalf("list: %d %v", code, err)
		}
		n += len(l.Items)
		if collect {
			for _, it := range l.Items {
				*names = append(*names, it.Metadata.Name)
			}
		}
		if cont = l.Metadata.Continue; cont == "" {
			return n
		}
	}
}

// load sends requests from every connection for d (benchutil.Load).
func (c *client) load(path func(*rand.Rand) string, d time.Duration, _ *server) benchutil.LoadResult {
	return benchutil.Load(strings.TrimPrefix(c.base, "http://"), c.token, c.conns, d, path)
}

func joinDurations(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("%.2f s", d.Seconds())
	}
	return strings.Join(parts, ", ")
}
