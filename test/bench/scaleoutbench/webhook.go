package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the pgx driver, as "pgx"

	"github.com/pkgserver/pkgserver/internal/store/pgtest"
	"github.com/pkgserver/pkgserver/test/bench/benchutil"
	"github.com/pkgserver/pkgserver/test/bench/repogen"
)

// webhookSecret is what the deliveries are signed with.
const webhookSecret = "bench-webhook-secret-5f0c1e"

// ingestResult is a burst of webhook deliveries through replicas sharing
// one PostgreSQL database.
type ingestResult struct {
	replicas int
	burst    benchutil.BurstResult
	// endToEnd is from the first delivery sent to every one processed,
	// as the database says.
	endToEnd time.Duration
	check    benchutil.DeliveryCheck
	// byReplica counts the deliveries each replica's lease last held.
	byReplica []int
}

func (r ingestResult) rate() float64 { return float64(r.burst.Count(202)) / r.endToEnd.Seconds() }

func (r ingestResult) correct(n int) bool {
	c := r.check
	return r.burst.Count(202) == n && c.Rows == n && c.Distinct == n && c.Lost == 0 && c.NotDone == 0 &&
		c.Twice == 0 && c.Never == 0 && c.Unexpected == 0
}

// webhookSetup is what both ingest measurements share: the repository the
// deliveries are about, the keyring every replica is given, the forge's
// stand-in.
type webhookSetup struct {
	repoDir, keyring string
	api              *benchutil.ForgeAPI
}

func newWebhookSetup(out string) webhookSetup {
	w := webhookSetup{repoDir: filepath.Join(out, "blueprints.git"), keyring: filepath.Join(out, "keyring")}
	if err := repogen.Generate(w.repoDir, repogen.Spec{Packages: 20, Revisions: 3}); err != nil {
		log.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if err := os.WriteFile(w.keyring, key, 0o600); err != nil {
		log.Fatal(err)
	}
	w.api = benchutil.StartForgeAPI()
	return w
}

// measureIngest starts replicas `pkgserver serve` on a new database of
// the cluster, registers a GitHub repository through the first, sends n
// signed `issues` deliveries with unique ids over conns connections
// spread over the replicas, waits until the database says every one is
// processed, and checks the deliveries table.
func measureIngest(ctx context.Context, pg *pgtest.Cluster, w webhookSetup, bin, out string, replicas, n, conns int) ingestResult {
	name := fmt.Sprintf("webhooks_%d", replicas)
	dbURL, err := pg.CreateDatabase(ctx, name)
	if err != nil {
		log.Fatal(err)
	}
	var servers []*benchutil.Server
	var hosts []string
	token := ""
	for i := range replicas {
		dataDir := filepath.Join(out, fmt.Sprintf("%s-replica-%d", name, i))
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			log.Fatal(err)
		}
		if i == 0 {
			token = createToken(bin, dataDir, dbURL, "admin")
			setSecret(bin, dataDir, dbURL, w.keyring)
		}
		s := benchutil.StartServer(bin, dataDir, filepath.Join(out, fmt.Sprintf("serve-%s-%d.log", name, i)),
			benchutil.ServerOptions{Database: dbURL, KeyringFile: w.keyring, Token: token})
		defer s.Stop()
		if i == 0 {
			s.Register("gh", map[string]any{
				"provider": "github", "git": map[string]any{"url": w.repoDir}, "webhookSecret": "hooks",
				"github": map[string]any{"owner": "acme", "repo": "blueprints", "baseURL": w.api.URL},
			}, 2*time.Minute)
		}
		servers, hosts = append(servers, s), append(hosts, s.HTTPAddr)
	}
	ds := make([]benchutil.Delivery, n)
	for i := range ds {
		body := strings.ReplaceAll(benchutil.IssuesPayload, "NUMBER", strconv.Itoa(i+1))
		ds[i] = benchutil.NewDelivery(hosts[0], "/webhooks/github/default/gh", webhookSecret, "issues", []byte(body))
	}
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	start := time.Now()
	res := ingestResult{replicas: replicas, burst: benchutil.Send(hosts, ds, conns)}
	drained, err := benchutil.WaitDrained(ctx, db, n, 5*time.Minute)
	if err != nil {
		log.Fatalf("%d replica(s): processing did not drain: %v", replicas, err)
	}
	res.endToEnd = drained.Sub(start)
	for _, s := range servers {
		s.Stop()
	}
	accepted, sent := map[string]bool{}, map[string]bool{}
	for i, d := range ds {
		sent[d.ID] = true
		if res.burst.Codes[i] == 202 {
			accepted[d.ID] = true
		}
	}
	if res.check, err = benchutil.VerifyDeliveries(ctx, db, accepted, sent); err != nil {
		log.Fatal(err)
	}
	res.byReplica = processedBy(ctx, db)
	return res
}

// processedBy counts the deliveries by the replica whose lease last held
// them, most first.
func processedBy(ctx context.Context, db *sql.DB) []int {
	rows, err := db.QueryContext(ctx, `SELECT count(*) FROM deliveries GROUP BY lease_owner ORDER BY count(*) DESC`)
	if err != nil {
		return nil
	}
	defer rows.Close()
	var counts []int
	for rows.Next() {
		var c int
		if rows.Scan(&c) == nil {
			counts = append(counts, c)
		}
	}
	return counts
}

// setSecret stores the webhook secret, sealed with the replicas' keyring.
func setSecret(bin, dataDir, dbURL, keyring string) {
	f := filepath.Join(dataDir, "hooks.secret")
	if err := os.WriteFile(f, []byte(webhookSecret), 0o600); err != nil {
		log.Fatal(err)
	}
	out, err := exec.Command(bin, "secret", "set", "hooks", "--token-file", f, "--data", dataDir,
		"--database", dbURL, "--keyring-file", keyring).CombinedOutput()
	if err != nil {
		log.Fatalf("secret set: %v\n%s", err, out)
	}
}
