// Command pushbench measures pushes to pkgserver's built-in git host over
// SSH: how long a one-package push takes until the API returns the new
// revision, what pre-receive validation and post-receive indexing cost in
// it (from the server's log), whether that depends on the packages the push
// leaves alone (hosted repositories of 100 and 1,000 packages side by
// side), the first push of every package, and the start-up of the hook
// processes git runs for every push. It prints a Markdown report.
package main

import (
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pkgserver/pkgserver/test/bench/benchutil"
	"github.com/pkgserver/pkgserver/test/bench/repogen"
)

// hosted is one hosted repository under measurement.
type hosted struct {
	name     string
	packages int
	sshURL   string
	clone    string // the working clone pushes are made from
	// loose and packed are bare copies without hooks, for the baseline of
	// git alone: refs as the first push left them, and packed.
	loose, packed string
	setup         setup
	series        map[string]*series
}

// setup is the first push of every package and the clone that follows.
type setup struct {
	refs      int
	push      time.Duration
	validated int
	pre, idx  time.Duration
	visible   bool
	clone     time.Duration
	cloneSize int64
	// listLoose and listPacked are the median time of git for-each-ref
	// over the baseline's copies: refs as pushed, and packed.
	listLoose, listPacked time.Duration
	// offline is `pkgserver validate` of the same packages checked out.
	offline time.Duration
}

// series is the pushes of one kind to one repository.
type series struct {
	pushes   []push
	lsRemote []time.Duration // git ls-remote over SSH: the connection
	loose    []time.Duration // the same push into a local bare copy
	packed   []time.Duration // and into one whose refs are packed
}

func main() {
	out := flag.String("out", "test/bench/_out/push", "working directory (emptied first)")
	pkgserver := flag.String("pkgserver", "bin/pkgserver", "pkgserver binary")
	hookBin := flag.String("hook", "bin/pkgserver-hook", "the small hook binary")
	sizes := flag.String("packages", "100,1000", "package counts of the hosted repositories, measured side by side")
	pushes := flag.Int("pushes", 30, "one-package pushes measured per series and repository")
	hookRuns := flag.Int("hook-runs", 50, "runs of each hook command")
	seed := flag.Uint64("seed", 1, "seed of the packages chosen")
	many := flag.Int("many", 0, "measure pushes of this many refs instead (with a one-ref push beside each), for each of -builds")
	manyPackages := flag.Int("many-packages", 100, "packages of the repository the -many pushes go to")
	manyBuilds := flag.String("builds", "", "label=binary,... of the builds -many compares (default: after=-pkgserver)")
	smallAfter := flag.Duration("small-after", 200*time.Millisecond, "when the one-ref push starts after a -many push reaches the server")
	flag.Parse()
	log.SetFlags(0)
	began, loadBefore := time.Now(), benchutil.LoadAvg()
	dir, bin, hookPath := absPath(*out), absPath(*pkgserver), absPath(*hookBin)
	if *many > 0 {
		builds := parseBuilds(*manyBuilds, bin)
		if err := os.RemoveAll(dir); err != nil {
			log.Fatal(err)
		}
		runMany(dir, builds, *many, *manyPackages, *smallAfter)
		return
	}
	repos := parseSizes(*sizes, *pushes)
	if err := os.RemoveAll(dir); err != nil {
		log.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "home"), 0o700); err != nil {
		log.Fatal(err)
	}

	// A user with the admin role and its key, then the server.
	key := filepath.Join(dir, "bench_key")
	run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f", key)
	dataDir := filepath.Join(dir, "data")
	run(bin, "user", "add", "bench", "--ssh-key", key+".pub", "--role", "admin", "--data", dataDir)
	srv := benchutil.StartServer(bin, dataDir, filepath.Join(dir, "serve.log"), benchutil.ServerOptions{SSH: true})
	defer srv.Stop()
	hostKey := run("ssh-keygen", "-y", "-f", filepath.Join(dataDir, "ssh_host_ed25519_key"))
	host, port, _ := strings.Cut(srv.SSHAddr, ":")
	knownHosts := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(knownHosts, []byte(fmt.Sprintf("[%s]:%s %s\n", host, port, hostKey)), 0o600); err != nil {
		log.Fatal(err)
	}
	g := newGitClient(filepath.Join(dir, "home"), key, knownHosts)

	for _, r := range repos {
		r.sshURL = addRepository(bin, srv, r.name)
		r.setup = firstPush(srv, g, bin, dir, r)
	}
	hookLine := hookCommand(filepath.Join(dataDir, "repos", "default", repos[0].name+".git"))
	runSeries(srv, g, repos, "drafts", *pushes, *seed)
	runSeries(srv, g, repos, "main", *pushes, *seed)
	// The drafts series again over smart HTTP, a token as the password:
	// the same push without an SSH connection. (The server packs refs
	// itself after pushes, so both series above already have them packed
	// but for the latest few.)
	runSeries(srv, g, repos, "http", *pushes, *seed)

	sshAlone := measureSSHAlone(key, knownHosts, host, port)
	hookCmds := hookCommands(dir, bin, hookPath)
	measureHookStart(hookCmds, *hookRuns)

	report(repos, hookCmds, hookLine, benchutil.Median(sshAlone), *pushes, *hookRuns, *sizes, loadBefore, time.Since(began))
}

// absPath is a path given on the command line, made absolute.
func absPath(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		log.Fatal(err)
	}
	return abs
}

// parseBuilds reads -builds: label=binary,...; after=bin when empty.
func parseBuilds(spec, bin string) []build {
	if spec == "" {
		return []build{{"after", bin}}
	}
	var builds []build
	for _, b := range strings.Split(spec, ",") {
		label, path, ok := strings.Cut(b, "=")
		abs, err := filepath.Abs(path)
		if !ok || err != nil {
			log.Fatalf("-builds %q: want label=binary", b)
		}
		builds = append(builds, build{label, abs})
	}
	return builds
}

// parseSizes reads -packages: the repositories to measure side by side,
// each with enough packages for the series of pushes.
func parseSizes(sizes string, pushes int) []*hosted {
	var repos []*hosted
	for _, s := range strings.Split(sizes, ",") {
		p, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || p < 2*(pushes+1) {
			log.Fatalf("-packages %q: want counts of at least %d (two series of -pushes and a warm-up each)", s, 2*(pushes+1))
		}
		repos = append(repos, &hosted{name: fmt.Sprintf("bench-%d", p), packages: p, series: map[string]*series{}})
	}
	return repos
}

// measureSSHAlone times SSH sessions alone, 21 of them: the server answers
// a session without a command with a greeting and exit status 1.
func measureSSHAlone(key, knownHosts, host, port string) []time.Duration {
	var sshAlone []time.Duration
	for range 21 {
		cmd := exec.Command("ssh", "-F", "/dev/null", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
			"-o", "UserKnownHostsFile="+knownHosts, "-i", key, "-p", port, "git@"+host)
		start := time.Now()
		_ = cmd.Run()
		sshAlone = append(sshAlone, time.Since(start))
	}
	return sshAlone
}

// hookCommands are the commands whose start-up is measured, the floors
// first: a process start, an empty Go program (built in dir), then the two
// hook commands.
func hookCommands(dir, bin, hookPath string) []*hookStart {
	truePath, err := exec.LookPath("true")
	if err != nil {
		log.Fatal(err)
	}
	emptyGo, err := buildEmptyGo(dir)
	if err != nil {
		log.Fatal(err)
	}
	return []*hookStart{
		{name: "`true` (a process start, the floor)", args: []string{truePath}},
		{name: "an empty Go program (`func main() {}`)", args: []string{emptyGo}},
		{name: "`bin/pkgserver-hook pre-receive`", args: []string{hookPath, "pre-receive"}},
		{name: "`bin/pkgserver hook pre-receive`", args: []string{bin, "hook", "pre-receive"}},
	}
}

// run runs a command and returns its standard output, trimmed.
func run(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		log.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, msg)
	}
	return strings.TrimSpace(string(out))
}

// addRepository creates a hosted repository with the client command and
// returns its SSH clone URL.
func addRepository(bin string, srv *benchutil.Server, name string) string {
	cmd := exec.Command(bin, "repo", "add", name, "--hosted", "--server", srv.Base, "--token", srv.Token)
	b, err := cmd.CombinedOutput()
	if err != nil {
		log.Fatalf("repo add %s: %v: %s", name, err, b)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if u, ok := strings.CutPrefix(line, "clone: git clone ssh://"); ok {
			return "ssh://" + strings.TrimSpace(u)
		}
	}
	log.Fatalf("repo add %s printed no SSH clone URL: %s", name, b)
	return ""
}

// firstPush fills a hosted repository with its packages in one push of
// main and a tag per package, then clones it over SSH for the series.
func firstPush(srv *benchutil.Server, g *gitClient, bin, dir string, r *hosted) setup {
	work := filepath.Join(dir, "seed-"+r.name)
	var s setup
	s.refs = g.seed(dir, r.sshURL, work, r.packages)
	refs := []string{"refs/heads/main", "refs/tags/*:refs/tags/*"}
	mark := srv.Log.Mark()
	start := time.Now()
	g.run(work, append([]string{"push", "-q", "origin"}, refs...)...)
	s.push = time.Since(start)
	n, err := packageCount(srv, r.name)
	if err != nil {
		log.Fatal(err)
	}
	last := repogen.PackagePath(r.packages - 1)
	revs, err := revisions(srv, r.name, last)
	if err != nil {
		log.Fatal(err)
	}
	s.visible = n == r.packages && slices.ContainsFunc(revs, func(v revision) bool {
		return v.Spec.Revision == "v1" && v.Spec.Lifecycle == "Published"
	})
	if !s.visible {
		log.Fatalf("%s: after the first push the API has %d packages and %d revisions of %s", r.name, n, len(revs), last)
	}
	pre, idx, _ := pushEvents(srv, mark, r, "ssh")
	s.validated, s.pre, s.idx = pre.Int("validated"), pre.Duration("duration"), idx.Duration("duration")

	r.clone = filepath.Join(dir, "clone-"+r.name)
	s.clone = g.timed("", "clone", "-q", r.sshURL, r.clone)
	s.cloneSize = benchutil.DirSize(filepath.Join(r.clone, ".git"))

	// The baseline's repositories: bare, configured as the hosted ones
	// are, filled by the same first push over the local transport — which
	// leaves a loose file per ref, as on the server — and a second one
	// whose refs are then packed (git pack-refs, which pkgserver runs on
	// hosted repositories after pushes that leave many loose refs).
	r.loose = filepath.Join(dir, "loose-"+r.name+".git")
	r.packed = filepath.Join(dir, "packed-"+r.name+".git")
	for _, b := range []string{r.loose, r.packed} {
		g.run("", "init", "-q", "--bare", "-b", "main", b)
		g.run("", "--git-dir="+b, "config", "receive.fsckObjects", "true")
		g.run("", "--git-dir="+b, "config", "core.logAllRefUpdates", "always")
		g.run(work, append([]string{"push", "-q", b}, refs...)...)
	}
	g.run("", "--git-dir="+r.packed, "pack-refs", "--all")
	var loose, packed []time.Duration
	for range 11 {
		loose = append(loose, g.timed("", "--git-dir="+r.loose, "for-each-ref", "--format=%(objectname)"))
		packed = append(packed, g.timed("", "--git-dir="+r.packed, "for-each-ref", "--format=%(objectname)"))
	}
	s.listLoose, s.listPacked = benchutil.Median(loose), benchutil.Median(packed)

	// The baseline of the first push's validation: the same packages,
	// checked out, validated offline.
	tree := filepath.Join(dir, "tree-"+r.name)
	g.run("", "clone", "-q", filepath.Join(dir, fmt.Sprintf("gen-%d.git", r.packages)), tree)
	var offline []time.Duration
	for range 3 {
		start := time.Now()
		run(bin, "validate", tree)
		offline = append(offline, time.Since(start))
	}
	s.offline = benchutil.Median(offline)
	return s
}

// pushEvents are the server's log lines of the last push to r: its
// pre-receive decision, its indexing and its receive-pack over SSH or
// smart HTTP (transport "ssh" or "http").
func pushEvents(srv *benchutil.Server, mark int, r *hosted, transport string) (pre, idx, ssh event) {
	repo := "default/" + r.name
	var ok [3]bool
	pre, ok[0] = srv.Log.Wait(mark, "pre-receive", 10*time.Second, "repo", repo)
	idx, ok[1] = srv.Log.Wait(mark, "reconciled", 10*time.Second, "repo", repo)
	ssh, ok[2] = srv.Log.Wait(mark, transport, 10*time.Second, "repo", repo, "service", "git-receive-pack")
	if ok != [3]bool{true, true, true} {
		log.Fatalf("%s: the server's log lacks lines of the push (pre-receive, reconciled, %s found: %v)", r.name, transport, ok)
	}
	return pre, idx, ssh
}

// push is one measured push.
type push struct {
	total           time.Duration // from the start of `git push` to the revision in the API
	gitPush         time.Duration
	visibleAtReturn bool
	receivePack     time.Duration // git-receive-pack on the server, hooks included
	pre             time.Duration // the server's pre-receive decision
	post            time.Duration // post-receive as the server reports it to the pusher
	idx             time.Duration // the reconcile in post-receive
	validated       int
}

// runSeries pushes one package at a time to every repository in turn,
// after one warm-up push each: "drafts" to a new branch drafts/<pkg>/w<i>,
// "http" the same to drafts/<pkg>/h<i> over smart HTTP, "main" a commit on main with a
// new tag <pkg>/v2.
func runSeries(srv *benchutil.Server, g *gitClient, repos []*hosted, kind string, n int, seed uint64) {
	picks := map[*hosted][]int{}
	for _, r := range repos {
		perm := rand.New(rand.NewPCG(seed, uint64(r.packages))).Perm(r.packages)
		if kind == "main" {
			picks[r] = perm[n+1 : 2*n+2]
		} else {
			picks[r] = perm[:n+1]
		}
		r.series[kind] = &series{}
		g.run(r.clone, "checkout", "-q", "main")
	}
	for i := 0; i <= n; i++ {
		for _, r := range repos {
			idx := picks[r][i]
			pkg := repogen.PackagePath(idx)
			var refs []string
			var visible func(revision) bool
			if kind != "main" {
				ws := kind[:1] + strconv.Itoa(i)
				branch := "drafts/" + pkg + "/" + ws
				g.run(r.clone, "checkout", "-q", "-b", branch, "main")
				g.edit(r.clone, idx, "draft "+ws)
				refs = []string{branch}
				visible = func(v revision) bool { return v.Spec.WorkspaceName == ws && v.Spec.Lifecycle == "Draft" }
			} else {
				g.edit(r.clone, idx, "release 2")
				g.run(r.clone, "tag", pkg+"/v2")
				refs = []string{"main", "refs/tags/" + pkg + "/v2"}
				visible = func(v revision) bool { return v.Spec.Revision == "v2" && v.Spec.Lifecycle == "Published" }
			}
			remote := "origin"
			if kind == "http" {
				remote = "http://bench:" + srv.Token + "@" + srv.HTTPAddr + "/git/default/" + r.name + ".git"
			}
			p := measurePush(srv, g, r, remote, refs, pkg, visible)
			// The baselines, right after: an SSH connection running
			// upload-pack, and git alone (the same push into local bare
			// copies, refs loose and packed).
			ls := g.timed(r.clone, "ls-remote", "-q", "origin", "refs/heads/main")
			loose := g.timed(r.clone, append([]string{"push", "-q", r.loose}, refs...)...)
			packed := g.timed(r.clone, append([]string{"push", "-q", r.packed}, refs...)...)
			if kind != "main" {
				g.run(r.clone, "checkout", "-q", "main")
			}
			if i == 0 {
				continue // warm-up
			}
			s := r.series[kind]
			s.pushes = append(s.pushes, p)
			s.lsRemote = append(s.lsRemote, ls)
			s.loose = append(s.loose, loose)
			s.packed = append(s.packed, packed)
		}
	}
}

// measurePush pushes refs, then reads the package's revisions until one is
// visible, and collects the push's lines of the server's log.
func measurePush(srv *benchutil.Server, g *gitClient, r *hosted, remote string, refs []string, pkg string, visible func(revision) bool) push {
	mark := srv.Log.Mark()
	start := time.Now()
	_, stderr, err := g.try(r.clone, nil, append([]string{"push", "-q", remote}, refs...)...)
	if err != nil {
		log.Fatal(err)
	}
	var p push
	p.gitPush = time.Since(start)
	// "remote: pkgserver: indexed default/NAME in N ms"
	if _, rest, ok := strings.Cut(stderr, "pkgserver: indexed default/"+r.name+" in "); ok {
		n, _ := strconv.Atoi(strings.Fields(rest)[0])
		p.post = time.Duration(n) * time.Millisecond
	}
	for polls := 1; ; polls++ {
		revs, err := revisions(srv, r.name, pkg)
		if err != nil {
			log.Fatal(err)
		}
		if slices.ContainsFunc(revs, visible) {
			p.total = time.Since(start)
			p.visibleAtReturn = polls == 1
			break
		}
		if time.Since(start) > 30*time.Second {
			log.Fatalf("%s: the push of %s to %v is not in the API after 30 s", r.name, pkg, refs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	transport := "ssh"
	if strings.HasPrefix(remote, "http") {
		transport = "http"
	}
	pre, idx, ssh := pushEvents(srv, mark, r, transport)
	p.validated, p.pre, p.idx, p.receivePack = pre.Int("validated"), pre.Duration("duration"), idx.Duration("duration"), ssh.Duration("duration")
	return p
}

// runStderr runs a command that answers on standard error (ssh -V).
func runStderr(name string, args ...string) string {
	b, _ := exec.Command(name, args...).CombinedOutput()
	return string(b)
}

// hookCommand is the command line the pre-receive hook of a hosted
// repository runs, as the server installed it ("unknown" if it is not
// where this build keeps it).
func hookCommand(gitDir string) string {
	b, err := os.ReadFile(filepath.Join(gitDir, "hooks", "pre-receive"))
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "exec "); ok {
			return strings.ReplaceAll(rest, "'", "")
		}
	}
	return "unknown"
}
