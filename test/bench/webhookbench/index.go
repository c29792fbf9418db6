package main

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	_ "modernc.org/sqlite"
)

// openIndex opens the server's SQLite index for reading only; in WAL mode
// it can be read while the server writes.
func openIndex(path string) (*sql.DB, error) {
	return sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
}

// waitDrained polls the deliveries table until want rows are there and
// none is pending, and returns when that was.
func waitDrained(ctx context.Context, db *sql.DB, want int, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		var total, pending int
		err := db.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(done = 0), 0) FROM deliveries WHERE forge = 'github'`).Scan(&total, &pending)
		if err != nil {
			return time.Time{}, err
		}
		if total >= want && pending == 0 {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("after %s: %d deliveries stored, %d still pending", timeout, total, pending)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// check is what the deliveries table holds after the run.
type check struct {
	rows       int            // rows of the forge
	distinct   int            // distinct delivery ids among them
	notDone    int            // rows with done = 0
	twice      int            // rows processed more than once (attempts > 1)
	never      int            // rows done without an attempt (attempts = 0)
	failed     int            // rows with an error recorded
	lost       int            // ids answered 202 that are not in the table
	unexpected int            // rows with an id the bench did not send
	byEvent    map[string]int // rows per event
}

// verify reads the table and compares it with the ids answered 202.
func verify(ctx context.Context, db *sql.DB, accepted map[string]bool, sent map[string]bool) (check, error) {
	c := check{byEvent: map[string]int{}}
	rows, err := db.QueryContext(ctx, `SELECT delivery_id, event, done, attempts, error FROM deliveries WHERE forge = 'github'`)
	if err != nil {
		return c, err
	}
	defer rows.Close()
	seen := make(map[string]bool, len(accepted))
	for rows.Next() {
		var id, event, errText string
		var done, attempts int
		if err := rows.Scan(&id, &event, &done, &attempts, &errText); err != nil {
			return c, err
		}
		c.rows++
		c.byEvent[event]++
		if !seen[id] {
			c.distinct++
		}
		seen[id] = true
		if done != 1 {
			c.notDone++
		}
		switch {
		case attempts > 1:
			c.twice++
		case attempts == 0 && done == 1:
			c.never++
		}
		if errText != "" {
			c.failed++
		}
		if !sent[id] {
			c.unexpected++
		}
	}
	if err := rows.Err(); err != nil {
		return c, err
	}
	for id := range accepted {
		if !seen[id] {
			c.lost++
		}
	}
	return c, nil
}
