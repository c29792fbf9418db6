package main

import (
	"log"
	"slices"
	"time"

	"github.com/pkgserver/pkgserver/test/bench/benchutil"
)

// approveResult is the approvals through one backend's server.
type approveResult struct {
	n, ok         int           // measured, answered as expected
	p50, p99, max time.Duration // of the approval request
	index         time.Duration // p50 of the reconcile the approval runs
	failures      []string
}

// measureApprovals takes packages of the index's repository through
// benchutil.Publish, as approvebench does — a Draft copied from the
// newest published revision, an edit, the proposal — and times the
// approval; one warm-up first.
func measureApprovals(srv *benchutil.Server, packages, n int) approveResult {
	t := &benchutil.PublishTarget{Repo: repoName, Packages: packages, Latest: map[int]benchutil.Published{}}
	var res approveResult
	var took, index []time.Duration
	for round := 0; round <= n; round++ {
		p := benchutil.Publish(srv, t, round)
		if round == 0 {
			continue
		}
		res.n++
		if !p.OK() {
			res.failures = append(res.failures, p.Name)
			if p.Err != nil {
				log.Printf("approval %s: %v", p.Name, p.Err)
			}
			continue
		}
		res.ok++
		took = append(took, p.Took[benchutil.StepApprove])
		if p.Index > 0 {
			index = append(index, p.Index)
		}
	}
	if len(took) == 0 {
		return res
	}
	slices.Sort(took)
	res.p50, res.p99, res.max = took[len(took)/2], took[(len(took)*99)/100], took[len(took)-1]
	if len(index) > 0 {
		res.index = benchutil.Median(index)
	}
	return res
}
