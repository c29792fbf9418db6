// Command webhookbench measures how fast `pkgserver serve` receives GitHub
// webhooks, from a separate load process on loopback: a burst of signed
// deliveries with unique ids over keep-alive connections, then some of
// them again (answered 200, stored once), then a smaller burst of pushes
// that sync the repository. After processing has drained it reads the
// server's deliveries table to check that every accepted delivery is there
// once and was processed exactly once. It prints a Markdown report.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/pkgserver/pkgserver/test/bench/benchutil"
	"github.com/pkgserver/pkgserver/test/bench/repogen"
)

const (
	repoName   = "gh"
	secretName = "hooks"
	// secret is what deliveries are signed with.
	secret = "bench-webhook-secret-5f0c1e"
)

func main() {
	out := flag.String("out", "test/bench/_out/webhook", "working directory (emptied first)")
	pkgserver := flag.String("pkgserver", "bin/pkgserver", "pkgserver binary")
	deliveries := flag.Int("deliveries", 10000, "issues deliveries of the burst")
	resend := flag.Int("resend", 500, "deliveries of the burst sent again")
	pushes := flag.Int("pushes", 1000, "push deliveries of the second burst")
	conns := flag.Int("concurrency", 16, "concurrent keep-alive connections")
	pushPayload := flag.String("push-payload", "webhooks/testdata/github-push.json", "push payload template (REF, AFTER)")
	flag.Parse()
	log.SetFlags(0)
	ctx := context.Background()

	dataDir, repoDir, head := prepare(*out)
	pushTmpl, err := os.ReadFile(*pushPayload)
	if err != nil {
		log.Fatal(err)
	}

	setSecret(*pkgserver, dataDir, secretName, secret)
	srv := benchutil.StartServer(*pkgserver, dataDir, filepath.Join(*out, "serve.log"), benchutil.ServerOptions{})
	api := benchutil.StartForgeAPI()
	register(srv, repoName, repoDir, secretName, api.URL)

	// Every request is signed and framed before the clock starts.
	path := "/webhooks/github/default/" + repoName
	issues, again := issueDeliveries(srv.HTTPAddr, path, *deliveries, *resend)
	pushBody := strings.NewReplacer("REF", "refs/heads/main", "AFTER", head,
		`"created": true`, `"created": false`).Replace(string(pushTmpl))
	pushDs := make([]benchutil.Delivery, *pushes)
	for i := range pushDs {
		pushDs[i] = benchutil.NewDelivery(srv.HTTPAddr, path, secret, "push", []byte(pushBody))
	}

	burst := benchutil.Send([]string{srv.HTTPAddr}, issues, *conns)
	repeat := benchutil.Send([]string{srv.HTTPAddr}, again, *conns)
	pushStart := time.Now()
	push := benchutil.Send([]string{srv.HTTPAddr}, pushDs, *conns)
	pushAnswered := time.Now()

	db, err := openIndex(filepath.Join(dataDir, "index.db"))
	if err != nil {
		srv.Stop()
		log.Fatal(err)
	}
	drained, err := benchutil.WaitDrained(ctx, db, *deliveries+*pushes, 5*time.Minute)
	db.Close()
	srv.Stop()
	if err != nil {
		log.Fatalf("processing did not drain: %v", err)
	}
	syncs := len(srv.Log.Since(0, "webhook sync"))
	c := checkDeliveries(ctx, dataDir, sentAs{issues, burst}, sentAs{pushDs, push})

	r := report{
		deliveries: *deliveries, pushes: *pushes, conns: *conns,
		issueBytes: len(benchutil.IssuesPayload), pushBytes: len(pushBody),
		burst: burst, repeat: repeat, push: push, check: c, syncs: syncs,
		drainPush: drained.Sub(pushAnswered), pushSpan: drained.Sub(pushStart),
		checkRuns: api.Created.Load(),
	}
	r.print(os.Stdout)
	if !r.correct() {
		os.Exit(1)
	}
}

// prepare empties the working directory out and makes in it the server's
// data directory and the bare repository the deliveries are about; it
// returns them and the commit of its main branch.
func prepare(out string) (dataDir, repoDir, head string) {
	if err := os.RemoveAll(out); err != nil {
		log.Fatal(err)
	}
	dataDir = filepath.Join(out, "data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		log.Fatal(err)
	}
	repoDir, err := filepath.Abs(filepath.Join(out, "blueprints.git"))
	if err != nil {
		log.Fatal(err)
	}
	spec := repogen.Spec{Packages: 20, Revisions: 3}
	if err := repogen.Generate(repoDir, spec); err != nil {
		log.Fatal(err)
	}
	b, err := exec.Command("git", "-C", repoDir, "rev-parse", "refs/heads/main").Output()
	if err != nil {
		log.Fatalf("rev-parse: %v", err)
	}
	return dataDir, repoDir, strings.TrimSpace(string(b))
}

// issueDeliveries are n issues deliveries with unique ids, and resend of
// them, spread over the burst, to send again.
func issueDeliveries(host, path string, n, resend int) (issues, again []benchutil.Delivery) {
	issues = make([]benchutil.Delivery, n)
	for i := range issues {
		body := strings.ReplaceAll(benchutil.IssuesPayload, "NUMBER", strconv.Itoa(i+1))
		issues[i] = benchutil.NewDelivery(host, path, secret, "issues", []byte(body))
	}
	again = make([]benchutil.Delivery, 0, resend)
	for i := range min(resend, n) {
		again = append(again, issues[i*n/resend])
	}
	return issues, again
}

// sentAs is a burst of deliveries and how they were answered.
type sentAs struct {
	ds  []benchutil.Delivery
	res benchutil.BurstResult
}

// checkDeliveries reads the server's deliveries table, once the server has
// stopped and closed it, to check that every delivery accepted (202) of
// the bursts is there once and was processed exactly once.
func checkDeliveries(ctx context.Context, dataDir string, bursts ...sentAs) benchutil.DeliveryCheck {
	accepted := map[string]bool{}
	sent := map[string]bool{}
	for _, b := range bursts {
		for i, d := range b.ds {
			sent[d.ID] = true
			if b.res.Codes[i] == 202 {
				accepted[d.ID] = true
			}
		}
	}
	db, err := openIndex(filepath.Join(dataDir, "index.db"))
	if err != nil {
		log.Fatal(err)
	}
	c, err := benchutil.VerifyDeliveries(ctx, db, accepted, sent)
	db.Close()
	if err != nil {
		log.Fatal(err)
	}
	return c
}

// machine describes where the bench ran.
func machine() string {
	return fmt.Sprintf("%d cores (%s)", runtime.NumCPU(), benchutil.CPUModel())
}
