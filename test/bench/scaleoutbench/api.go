package main

import (
	"fmt"
	"log"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pkgserver/pkgserver/test/bench/benchutil"
	"github.com/pkgserver/pkgserver/test/bench/repogen"
)

// apiResult is the load on one backend's server: gets by name and
// filtered lists of one package, each the median of its rounds.
type apiResult struct {
	revisions  int
	get, list  benchutil.LoadResult
	getRounds  []benchutil.LoadResult
	listRounds []benchutil.LoadResult
}

// startServer starts `pkgserver serve` over the backend's last full
// index, with an admin token of its own, and waits for its start-up sync.
func (b *backend) startServer(bin, out string) (*benchutil.Server, time.Duration) {
	tok := createToken(bin, b.dataDir, b.database, "admin")
	srv := benchutil.StartServer(bin, b.dataDir, filepath.Join(out, "serve-"+strings.ToLower(b.name)+".log"),
		benchutil.ServerOptions{Database: b.database, Token: tok})
	// A replica on PostgreSQL finds the index synced by the reindex and
	// syncs again at the next poll only: the server is measured once the
	// repository is Ready, whenever its last sync was.
	synced, err := srv.WaitSynced(repoName, time.Time{}, 2*time.Minute)
	if err != nil {
		srv.Stop()
		log.Fatal(err)
	}
	return srv, synced
}

// measureAPI loads the server as servebench does — gets of uniformly
// drawn revisions by name, filtered lists of a uniformly drawn package —
// the phases in turn for rounds rounds, after a second of warm-up each.
func measureAPI(srv *benchutil.Server, packages, conns, rounds int, d time.Duration) apiResult {
	names, err := srv.RevisionNames(500)
	if err != nil {
		srv.Stop()
		log.Fatal(err)
	}
	res := apiResult{revisions: len(names)}
	get := func(r *rand.Rand) string { return benchutil.RevisionsPath + "/" + names[r.IntN(len(names))] }
	list := func(r *rand.Rand) string {
		return benchutil.RevisionsPath + "?fieldSelector=" + url.QueryEscape("spec.packageName="+repogen.PackagePath(r.IntN(packages)))
	}
	for range rounds {
		benchutil.Load(srv.HTTPAddr, srv.Token, conns, time.Second, get)
		res.getRounds = append(res.getRounds, benchutil.Load(srv.HTTPAddr, srv.Token, conns, d, get))
		benchutil.Load(srv.HTTPAddr, srv.Token, conns, time.Second, list)
		res.listRounds = append(res.listRounds, benchutil.Load(srv.HTTPAddr, srv.Token, conns, d, list))
	}
	res.get, res.list = medianRound(res.getRounds), medianRound(res.listRounds)
	return res
}

// medianRound is the round of median throughput.
func medianRound(rs []benchutil.LoadResult) benchutil.LoadResult {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b benchutil.LoadResult) int { return int(a.RPS - b.RPS) })
	return s[len(s)/2]
}

// roundsP99 lists the p99 of every round.
func roundsP99(rs []benchutil.LoadResult) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%.2f", benchutil.Ms(r.P99)))
	}
	return strings.Join(parts, " · ")
}
