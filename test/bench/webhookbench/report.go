package main

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/pkgserver/pkgserver/test/bench/benchutil"
)

// Goals of the webhook receiver.
const (
	goalRate = 2000                   // deliveries accepted per second
	goalP99  = 100 * time.Millisecond // answer time, 99th percentile
)

type report struct {
	deliveries, pushes, conns int
	issueBytes, pushBytes     int
	burst, repeat, push       benchutil.BurstResult
	check                     benchutil.DeliveryCheck
	syncs                     int
	// drainPush is from the last push answered to every delivery done;
	// pushSpan from the first push sent.
	drainPush, pushSpan time.Duration
	// checkRuns counts the check runs posted for the pushed commit.
	checkRuns int64
}

func rate(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }

func (r report) acceptedRate() float64 { return rate(r.burst.Count(202), r.burst.Elapsed) }

func (r report) lost() int { return r.check.Lost }

func (r report) twice() int { return r.check.Twice }

// goalsMet reports whether the speed goals were met; the machine decides
// as much as the server, so missing them is reported, not an error.
func (r report) goalsMet() bool {
	_, p99, _ := r.burst.Percentiles()
	return r.acceptedRate() >= goalRate && p99 < goalP99
}

// correct reports whether every delivery was answered, stored and
// processed as it should be.
func (r report) correct() bool {
	return r.lost() == 0 && r.twice() == 0 &&
		r.burst.Count(202) == r.deliveries && r.repeat.Count(200) == len(r.repeat.Codes) &&
		r.push.Count(202) == r.pushes && r.check.Rows == r.deliveries+r.pushes &&
		r.check.Distinct == r.check.Rows && r.check.NotDone == 0 && r.check.Never == 0 && r.check.Unexpected == 0
}

func yes(ok bool) string {
	if ok {
		return "✅"
	}
	return "❌"
}

func (r report) print(w io.Writer) {
	fmt.Fprintf(w, "Machine: %s. Server `pkgserver serve` (SQLite index, synchronous=FULL) and this load process on the same machine, over loopback, %d keep-alive connections speaking raw HTTP/1.1; every request signed (X-Hub-Signature-256) and framed before the clock starts.\n\n",
		machine(), r.conns)
	fmt.Fprintf(w, "Command: `bash test/bench/webhook.sh` (`go run ./test/bench/webhookbench -deliveries %d -pushes %d -concurrency %d`).\n\n", r.deliveries, r.pushes, r.conns)
	fmt.Fprintf(w, "Repository `default/gh`, provider github, a local bare repository of 20 packages. Payloads: `issues` (opened, %d bytes; stored, ignored when processed) and `push` to refs/heads/main (%d bytes; pushes processed together sync the repository once).\n\n",
		r.issueBytes, r.pushBytes)
	fmt.Fprintln(w, "| phase | deliveries | answers | per second | p50 | p99 | max | transport errors |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	row := func(name string, b benchutil.BurstResult) {
		p50, p99, mx := b.Percentiles()
		fmt.Fprintf(w, "| %s | %d | %s | %.0f | %.2f ms | %.2f ms | %.2f ms | %d |\n", name, len(b.Codes), codes(b),
			rate(len(b.Codes), b.Elapsed), benchutil.Ms(p50), benchutil.Ms(p99), benchutil.Ms(mx), b.Errs)
	}
	row("burst of unique `issues` deliveries", r.burst)
	row(fmt.Sprintf("%d of the same ids again", len(r.repeat.Codes)), r.repeat)
	row("burst of `push` deliveries", r.push)
	fmt.Fprintf(w, "\nBurst: %d accepted in %.2f s, %.0f accepted/s.\n", r.burst.Count(202), r.burst.Elapsed.Seconds(), r.acceptedRate())
	fmt.Fprintf(w, "\nProcessing: every delivery done %.2f s after the last push was answered (%.2f s after the first push was sent); the server logged %d webhook syncs for %d pushes (one per repository per batch of up to 100 deliveries).\n",
		r.drainPush.Seconds(), r.pushSpan.Seconds(), r.syncs, r.pushes)
	fmt.Fprintf(w, "The pushed commit (all 20 packages, the branch being new to the payload) was validated once and its check run posted %d time(s) to a loopback stand-in of the GitHub API.\n", r.checkRuns)
	c := r.check
	fmt.Fprintf(w, "\nDeliveries table after the server stopped: %d rows (%d issues, %d push), %d distinct ids, %d not done, %d processed more than once (attempts > 1), %d done without an attempt, %d with an error, %d ids the bench did not send; %d of the ids answered 202 missing.\n",
		c.Rows, c.ByEvent["issues"], c.ByEvent["push"], c.Distinct, c.NotDone, c.Twice, c.Never, c.Failed, c.Unexpected, c.Lost)

	_, p99, _ := r.burst.Percentiles()
	fmt.Fprintln(w, "\n| goal | measured | met |")
	fmt.Fprintln(w, "|---|---|---|")
	fmt.Fprintf(w, "| ≥ %d deliveries accepted/s | %.0f/s | %s |\n", goalRate, r.acceptedRate(), yes(r.acceptedRate() >= goalRate))
	fmt.Fprintf(w, "| answer p99 < %d ms | %.2f ms | %s |\n", goalP99.Milliseconds(), benchutil.Ms(p99), yes(p99 < goalP99))
	fmt.Fprintf(w, "| 0 lost | %d | %s |\n", r.lost(), yes(r.lost() == 0))
	fmt.Fprintf(w, "| 0 processed twice | %d | %s |\n", r.twice(), yes(r.twice() == 0))
	fmt.Fprintf(w, "| repeated ids answered 200, stored once | %d of %d answered 200; %d rows for %d sent | %s |\n",
		r.repeat.Count(200), len(r.repeat.Codes), c.Rows, r.deliveries+r.pushes,
		yes(r.repeat.Count(200) == len(r.repeat.Codes) && c.Rows == r.deliveries+r.pushes && c.Distinct == c.Rows))
	fmt.Fprintf(w, "| all processed exactly once | %d done, %d attempts ≠ 1 | %s |\n", c.Rows-c.NotDone, c.Twice+c.Never+c.NotDone,
		yes(c.NotDone == 0 && c.Twice == 0 && c.Never == 0))
	fmt.Fprintf(w, "\nSpeed goals: %s. Correctness (every delivery answered as expected, stored once, processed once, none lost): %s.\n",
		map[bool]string{true: "met", false: "NOT met"}[r.goalsMet()], map[bool]string{true: "pass", false: "FAIL"}[r.correct()])
}

// codes summarizes the status codes of a burst, e.g. "10000 × 202".
func codes(b benchutil.BurstResult) string {
	counts := map[int]int{}
	var order []int
	for _, c := range b.Codes {
		if counts[c] == 0 {
			order = append(order, c)
		}
		counts[c]++
	}
	slices.Sort(order)
	s := ""
	for i, c := range order {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%d × %d", counts[c], c)
	}
	return s
}
