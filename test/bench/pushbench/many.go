package main

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pkgserver/pkgserver/test/bench/benchutil"
	"github.com/pkgserver/pkgserver/test/bench/repogen"
)

// A large push: thousands of refs in one push to a hosted repository, with
// a one-ref push to the same repository started while it is decided. Each
// build given is measured in turn, on a server of its own, so that two
// builds compare side by side in one run.

// build is a pkgserver binary under measurement, with its label.
type build struct {
	label, bin string
}

// manyKind is one shape of large push.
type manyKind struct {
	name string
	// make creates the refs in the working clone (main at commit) and
	// returns the refspec that pushes them.
	make func(g *gitClient, work, commit string, refs, packages int) string
}

var manyKinds = []manyKind{
	{"tags: v2, v3, … of each package, on main", func(g *gitClient, work, commit string, refs, packages int) string {
		var in strings.Builder
		for i := range refs {
			fmt.Fprintf(&in, "create refs/tags/%s/v%d %s\n", repogen.PackagePath(i%packages), 2+i/packages, commit)
		}
		if _, _, err := g.try(work, []byte(in.String()), "update-ref", "--stdin"); err != nil {
			log.Fatal(err)
		}
		return "refs/tags/*:refs/tags/*"
	}},
	{"drafts of each package, each on a commit of its own", func(g *gitClient, work, commit string, refs, packages int) string {
		fastImport(g, work, commit, refs, func(i int) string {
			return fmt.Sprintf("refs/heads/drafts/%s/w%d", repogen.PackagePath(i%packages), i)
		})
		return "refs/heads/drafts/*:refs/heads/drafts/*"
	}},
	{"other branches, each on a commit of its own", func(g *gitClient, work, commit string, refs, packages int) string {
		fastImport(g, work, commit, refs, func(i int) string { return fmt.Sprintf("refs/heads/feature/f%05d", i) })
		return "refs/heads/feature/*:refs/heads/feature/*"
	}},
}

// fastImport makes n commits on top of commit, with its tree, one per ref
// named, in one git process.
func fastImport(g *gitClient, work, commit string, n int, name func(int) string) {
	var in strings.Builder
	for i := range n {
		msg := fmt.Sprintf("change %d\n", i)
		fmt.Fprintf(&in, "commit %s\ncommitter Bench <bench@example.com> 1767268800 +0000\ndata %d\n%sfrom %s\n\n", name(i), len(msg), msg, commit)
	}
	if _, _, err := g.try(work, []byte(in.String()), "fast-import", "--quiet"); err != nil {
		log.Fatal(err)
	}
}

// manyResult is one large push measured.
type manyResult struct {
	build, kind string
	refs        int
	accepted    bool
	message     string        // the server's last line to the pusher
	push        time.Duration // the large git push, start to end
	receive     time.Duration // its receive-pack on the server, hooks included
	pre, idx    time.Duration // its decision and its indexing, from the server's log
	small       time.Duration // the one-ref push started during it
	smallOK     bool
}

// runMany measures each kind of large push with each build.
func runMany(dir string, builds []build, refs, packages int, smallAfter time.Duration) {
	began, loadBefore := time.Now(), benchutil.LoadAvg()
	var results []manyResult
	for _, k := range manyKinds {
		for _, b := range builds {
			results = append(results, manyPush(dir, b, k, refs, packages, smallAfter))
		}
	}
	fmt.Printf("## A push of %d refs, and a one-ref push beside it\n\n", refs)
	fmt.Printf("Machine: %s, load before %s; %d packages in the repository; pushes over SSH; the one-ref push (a draft of another package) starts %v after the large one reaches the server (its quarantine exists). Took %v.\n\n",
		benchutil.CPUModel(), loadBefore, packages, smallAfter, time.Since(began).Round(time.Second))
	fmt.Println("| refs pushed | build | accepted | large `git push` | its receive-pack on the server | its decision | its indexing | decision per ref | one-ref push beside it |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	for _, r := range results {
		acc := "yes"
		if !r.accepted {
			acc = "no: " + r.message
		}
		small := ms(r.small)
		if !r.smallOK {
			small += " (refused)"
		}
		perRef := "—"
		if r.pre > 0 {
			perRef = fmt.Sprintf("%.2f ms", benchutil.Ms(r.pre)/float64(r.refs))
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.kind, r.build, acc, ms(r.push), ms(r.receive), ms(r.pre), ms(r.idx), perRef, small)
	}
}

func manyPush(dir string, b build, k manyKind, refs, packages int, smallAfter time.Duration) manyResult {
	res := manyResult{build: b.label, kind: k.name, refs: refs}
	base := filepath.Join(dir, fmt.Sprintf("many-%s-%d", b.label, len(k.name)))
	if err := os.MkdirAll(filepath.Join(base, "home"), 0o700); err != nil {
		log.Fatal(err)
	}
	// Over SSH, as the other series: a user with the admin role and its key.
	key, dataDir := filepath.Join(base, "bench_key"), filepath.Join(base, "data")
	run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f", key)
	run(b.bin, "user", "add", "bench", "--ssh-key", key+".pub", "--role", "admin", "--data", dataDir)
	srv := benchutil.StartServer(b.bin, dataDir, filepath.Join(base, "serve.log"), benchutil.ServerOptions{SSH: true})
	defer srv.Stop()
	hostKey := run("ssh-keygen", "-y", "-f", filepath.Join(dataDir, "ssh_host_ed25519_key"))
	host, port, _ := strings.Cut(srv.SSHAddr, ":")
	knownHosts := filepath.Join(base, "known_hosts")
	if err := os.WriteFile(knownHosts, []byte(fmt.Sprintf("[%s]:%s %s\n", host, port, hostKey)), 0o600); err != nil {
		log.Fatal(err)
	}
	g := newGitClient(filepath.Join(base, "home"), key, knownHosts)
	url := addRepository(b.bin, srv, "many")
	work, other := filepath.Join(base, "work"), filepath.Join(base, "other")
	g.seed(base, url, work, packages)
	g.run(work, "push", "-q", "origin", "refs/heads/main", "refs/tags/*:refs/tags/*")
	g.run("", "clone", "-q", url, other)
	commit := g.run(work, "rev-parse", "HEAD")
	spec := k.make(g, work, commit, refs, packages)
	// The one-ref push: a draft of a package, edited.
	g.run(other, "checkout", "-q", "-b", "drafts/"+repogen.PackagePath(packages-1)+"/small")
	g.edit(other, packages-1, "small")

	mark := srv.Log.Mark()
	smallDone := make(chan struct{})
	objects := filepath.Join(base, "data", "repos", "default", "many.git", "objects")
	largeDone := make(chan struct{})
	go func() {
		defer close(smallDone)
		// The large push is under way on the server once git has made its
		// quarantine (the objects of a push not yet accepted).
		for {
			if m, _ := filepath.Glob(filepath.Join(objects, "tmp_objdir-incoming-*")); len(m) > 0 {
				break
			}
			select {
			case <-largeDone:
				log.Printf("%s, %s: the large push ended before the server received it", b.label, k.name)
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
		time.Sleep(smallAfter)
		start := time.Now()
		_, _, err := g.try(other, nil, "push", "-q", "origin", "HEAD")
		res.small, res.smallOK = time.Since(start), err == nil
	}()
	start := time.Now()
	_, stderr, err := g.try(work, nil, "push", "-q", "origin", spec)
	res.push = time.Since(start)
	close(largeDone)
	res.accepted = err == nil
	if err != nil {
		// Its first lines: git then lists every ref it could not push.
		msg := strings.SplitN(err.Error(), "\n", 4)
		log.Printf("%s, %s: %s", b.label, k.name, strings.Join(msg[:min(3, len(msg))], "\n"))
	}
	for _, line := range strings.Split(stderr, "\n") {
		// The server's last line to the pusher: "pkgserver: indexed …",
		// or why the push was refused.
		if msg, ok := strings.CutPrefix(strings.TrimSpace(line), "remote: pkgserver: "); ok && !strings.HasPrefix(msg, "the push is refused") {
			res.message = "pkgserver: " + strings.TrimSpace(msg)
		}
	}
	<-smallDone
	if e, ok := srv.Log.Wait(mark, "pre-receive", 5*time.Second, "repo", "default/many", "updates", fmt.Sprint(refs)); ok {
		res.pre = e.Duration("duration")
	}
	if e, ok := srv.Log.Wait(mark, "ssh", 5*time.Second, "repo", "default/many", "service", "git-receive-pack"); ok {
		for _, ev := range srv.Log.Since(mark, "ssh") {
			res.receive = max(res.receive, ev.Duration("duration"))
		}
		res.receive = max(res.receive, e.Duration("duration"))
	}
	if res.accepted {
		// The indexing of the large push: the reconcile of the most refs.
		if e, ok := srv.Log.Wait(mark, "reconciled", 5*time.Second, "repo", "default/many"); ok {
			res.idx = e.Duration("duration")
			for _, ev := range srv.Log.Since(mark, "reconciled") {
				res.idx = max(res.idx, ev.Duration("duration"))
			}
		}
	}
	log.Printf("%s, %s: push %v, decision %v, indexing %v, one-ref push %v (ok %v) %s", b.label, k.name, res.push, res.pre, res.idx, res.small, res.smallOK, res.message)
	return res
}
