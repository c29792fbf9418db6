package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"strings"
	"time"

	"github.com/pkgserver/pkgserver/internal/store"
)

// AddDelivery stores a webhook delivery unless one with its forge and id is
// there; it reports whether it was new. The write is committed (durable)
// when it returns.
func (s *Store) AddDelivery(ctx context.Context, d *store.Delivery) (bool, error) {
	added, err := s.AddDeliveries(ctx, []*store.Delivery{d})
	if err != nil {
		return false, err
	}
	return added[0], nil
}

// AddDeliveries stores deliveries in one transaction — one commit, one
// sync to disk, for many — and reports which were new. They are inserted
// by one statement per deliveryChunk rows: a round trip each, not one per
// delivery. Of one delivery given twice, the first is the new one.
func (s *Store) AddDeliveries(ctx context.Context, ds []*store.Delivery) ([]bool, error) {
	added := make([]bool, len(ds))
	// Two replicas may store the same deliveries (redelivered) in other
	// orders, and deadlock on each other's rows: retried.
	err := s.retriedWrite(ctx, func(tx *sql.Tx) error {
		clear(added)
		for start := 0; start < len(ds); start += deliveryChunk {
			chunk := ds[start:min(len(ds), start+deliveryChunk)]
			if err := s.insertDeliveries(ctx, tx, chunk, added[start:]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return added, nil
}

// deliveryChunk bounds the rows of one statement: 7 parameters each, well
// below SQLite's 32,766 and PostgreSQL's 65,535.
const deliveryChunk = 256

// deliveryKey names a delivery as the table's unique key does.
type deliveryKey struct{ forge, namespace, repository, id string }

// insertDeliveries inserts ds in one statement, setting added[i] for those
// that were new.
func (s *Store) insertDeliveries(ctx context.Context, tx *sql.Tx, ds []*store.Delivery, added []bool) error {
	args := make([]any, 0, 7*len(ds))
	for _, d := range ds {
		args = append(args, d.Forge, d.DeliveryID, d.Namespace, d.Repository, d.Event, d.Payload, d.ReceivedAt.UnixMilli())
	}
	rows, err := tx.QueryContext(ctx, s.q(`INSERT INTO deliveries (forge, delivery_id, namespace, repository, event, payload, received_at)
		VALUES `+valueRows(len(ds), 7)+`
		ON CONFLICT (forge, namespace, repository, delivery_id) DO NOTHING
		RETURNING forge, namespace, repository, delivery_id`), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	inserted := map[deliveryKey]bool{}
	for rows.Next() {
		var k deliveryKey
		if err := rows.Scan(&k.forge, &k.namespace, &k.repository, &k.id); err != nil {
			return err
		}
		inserted[k] = true
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for i, d := range ds {
		k := deliveryKey{d.Forge, d.Namespace, d.Repository, d.DeliveryID}
		if inserted[k] {
			added[i] = true
			delete(inserted, k)
		}
	}
	return nil
}

// valueRows is n rows of a VALUES list of cols parameters each:
// "(?, ?), (?, ?)".
func valueRows(n, cols int) string {
	return repeated("("+repeated("?", cols)+")", n)
}

// repeated is n times item, separated by commas.
func repeated(item string, n int) string {
	return strings.TrimSuffix(strings.Repeat(item+", ", n), ", ")
}

// PendingDeliveries returns deliveries not processed yet, oldest first,
// after the one with ID after.
func (s *Store) PendingDeliveries(ctx context.Context, after int64, limit int) ([]store.Delivery, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, forge, delivery_id, namespace, repository, event, payload, received_at, attempts
		FROM deliveries WHERE done = 0 AND id > ? ORDER BY id LIMIT ?`), after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Delivery
	for rows.Next() {
		var d store.Delivery
		var at int64
		if err := rows.Scan(&d.ID, &d.Forge, &d.DeliveryID, &d.Namespace, &d.Repository, &d.Event, &d.Payload, &at, &d.Attempts); err != nil {
			return nil, err
		}
		d.ReceivedAt = time.UnixMilli(at).UTC()
		out = append(out, d)
	}
	return out, rows.Err()
}

// FinishDelivery records the outcome of processing a delivery: done, or
// failed with a reason and left pending for another attempt.
func (s *Store) FinishDelivery(ctx context.Context, id int64, done bool, reason string) error {
	return s.FinishDeliveries(ctx, []store.DeliveryOutcome{{ID: id, Done: done, Reason: reason}})
}

// FinishDeliveries records the outcomes of many deliveries in one
// transaction; ErrNotFound if one of them is not there (and nothing is
// recorded).
func (s *Store) FinishDeliveries(ctx context.Context, outcomes []store.DeliveryOutcome) error {
	now := time.Now().UnixMilli()
	// Retried as AddDeliveries is: two replicas may finish deliveries in
	// other orders.
	return s.retriedWrite(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, s.q(`UPDATE deliveries SET done = ?, attempts = attempts + 1, error = ?, processed_at = ? WHERE id = ?`))
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, o := range outcomes {
			flag := 0
			if o.Done {
				flag = 1
			}
			res, err := stmt.ExecContext(ctx, flag, o.Reason, now, o.ID)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				return store.ErrNotFound
			}
		}
		return nil
	})
}

// CompactDeliveries forgets deliveries processed before a time: their ids
// no longer stop a redelivery, and their payloads take no space.
func (s *Store) CompactDeliveries(ctx context.Context, before time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`DELETE FROM deliveries WHERE done = 1 AND processed_at < ?`), before.UnixMilli())
		return err
	})
}

// GetDelivery returns a delivery by its forge's id (in any repository).
func (s *Store) GetDelivery(ctx context.Context, forge, deliveryID string) (*store.Delivery, error) {
	var d store.Delivery
	var at, done int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT id, forge, delivery_id, namespace, repository, event, payload, received_at, attempts, done, error
		FROM deliveries WHERE forge = ? AND delivery_id = ? ORDER BY id LIMIT 1`), forge, deliveryID).
		Scan(&d.ID, &d.Forge, &d.DeliveryID, &d.Namespace, &d.Repository, &d.Event, &d.Payload, &at, &d.Attempts, &done, &d.Error)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	d.ReceivedAt, d.Done = time.UnixMilli(at).UTC(), done == 1
	return &d, nil
}

// RecentDeliveries returns a repository's deliveries newest first, without
// their payloads.
func (s *Store) RecentDeliveries(ctx context.Context, namespace, repository string, before int64, limit int) ([]store.Delivery, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, forge, delivery_id, event, received_at, attempts, done, error, processed_at
		FROM deliveries WHERE namespace = ? AND repository = ? AND id < ? ORDER BY id DESC LIMIT ?`), namespace, repository, before, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Delivery
	for rows.Next() {
		d := store.Delivery{Namespace: namespace, Repository: repository}
		var at, done, processed int64
		if err := rows.Scan(&d.ID, &d.Forge, &d.DeliveryID, &d.Event, &at, &d.Attempts, &done, &d.Error, &processed); err != nil {
			return nil, err
		}
		d.ReceivedAt, d.Done = time.UnixMilli(at).UTC(), done == 1
		if processed > 0 {
			d.ProcessedAt = time.UnixMilli(processed).UTC()
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
