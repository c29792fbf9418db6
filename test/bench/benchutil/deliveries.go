package benchutil

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// WaitDrained polls the deliveries table (SQLite or PostgreSQL) until
// want rows of GitHub are there and none is pending, and returns when
// that was.
func WaitDrained(ctx context.Context, db *sql.DB, want int, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		var total, pending int
		err := db.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(CASE WHEN done = 0 THEN 1 ELSE 0 END), 0) FROM deliveries WHERE forge = 'github'`).Scan(&total, &pending)
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

// DeliveryCheck is what the deliveries table holds after a run.
type DeliveryCheck struct {
	Rows       int            // rows of the forge
	Distinct   int            // distinct delivery ids among them
	NotDone    int            // rows with done = 0
	Twice      int            // rows processed more than once (attempts > 1)
	Never      int            // rows done without an attempt (attempts = 0)
	Failed     int            // rows with an error recorded
	Lost       int            // ids answered 202 that are not in the table
	Unexpected int            // rows with an id the bench did not send
	ByEvent    map[string]int // rows per event
}

// VerifyDeliveries reads the deliveries table of GitHub (SQLite or
// PostgreSQL) and compares it with the ids sent and those answered 202.
func VerifyDeliveries(ctx context.Context, db *sql.DB, accepted map[string]bool, sent map[string]bool) (DeliveryCheck, error) {
	c := DeliveryCheck{ByEvent: map[string]int{}}
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
		c.Rows++
		c.ByEvent[event]++
		if !seen[id] {
			c.Distinct++
		}
		seen[id] = true
		if done != 1 {
			c.NotDone++
		}
		switch {
		case attempts > 1:
			c.Twice++
		case attempts == 0 && done == 1:
			c.Never++
		}
		if errText != "" {
			c.Failed++
		}
		if !sent[id] {
			c.Unexpected++
		}
	}
	if err := rows.Err(); err != nil {
		return c, err
	}
	for id := range accepted {
		if !seen[id] {
			c.Lost++
		}
	}
	return c, nil
}
