package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"slices"
	"time"

	"github.com/pkgserver/pkgserver/internal/store"
)

// Leases of replicas sharing one database (store.DeliveryLeases,
// store.CheckLeases, store.SyncLeases). A lease is an owner's id and the
// Unix milliseconds at which it ends, in the row of what it holds; taking
// one is a conditional UPDATE, so that of two replicas one takes it.

// ClaimDeliveries leases pending deliveries to owner. On PostgreSQL the
// rows are chosen FOR UPDATE SKIP LOCKED (rows another replica is writing
// are left to it), after an advisory lock that serializes the claims
// themselves: two claims made at once would each see no lease of the
// other and could take deliveries of one repository both. On SQLite the
// claim is one write transaction, as every write is.
func (s *Store) ClaimDeliveries(ctx context.Context, owner string, now, until time.Time, after int64, limit int) ([]store.Delivery, error) {
	// Replicas look often: a read finds whether there is anything to
	// claim before a write does.
	var any int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM (SELECT 1 FROM deliveries WHERE done = 0 AND id > ? AND (lease_until <= ? OR lease_owner = ?) LIMIT 1) d`),
		after, now.UnixMilli(), owner).Scan(&any)
	if err != nil || any == 0 {
		return nil, err
	}
	var out []store.Delivery
	err = s.retriedWrite(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		if s.d.claimLock != "" {
			if _, err := tx.ExecContext(ctx, s.d.claimLock); err != nil {
				return err
			}
		}
		// The repositories other replicas hold are found once per claim
		// (a range of the partial index of pending leases), not once per
		// candidate: each such look would also pass the versions of every
		// delivery finished within a lease's length, not yet vacuumed.
		rows, err := tx.QueryContext(ctx, s.q(`WITH held AS MATERIALIZED (SELECT DISTINCT namespace, repository FROM deliveries
				WHERE done = 0 AND lease_until > ? AND lease_owner <> ?)
			UPDATE deliveries SET lease_owner = ?, lease_until = ?
			WHERE id IN (SELECT id FROM deliveries d WHERE done = 0 AND id > ? AND (lease_until <= ? OR lease_owner = ?)
				AND NOT EXISTS (SELECT 1 FROM held h WHERE h.namespace = d.namespace AND h.repository = d.repository)
				ORDER BY id LIMIT ? `+s.d.skipLocked+`)
			RETURNING id, forge, delivery_id, namespace, repository, event, payload, received_at, attempts`),
			now.UnixMilli(), owner, owner, until.UnixMilli(), after, now.UnixMilli(), owner, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var d store.Delivery
			var at int64
			if err := rows.Scan(&d.ID, &d.Forge, &d.DeliveryID, &d.Namespace, &d.Repository, &d.Event, &d.Payload, &at, &d.Attempts); err != nil {
				return err
			}
			d.ReceivedAt = time.UnixMilli(at).UTC()
			out = append(out, d)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	// RETURNING promises no order.
	slices.SortFunc(out, func(a, b store.Delivery) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// HoldDeliveries sets the lease of the deliveries owner holds, by one
// statement per deliveryChunk of them.
func (s *Store) HoldDeliveries(ctx context.Context, owner string, until time.Time, ids []int64) ([]int64, error) {
	var lost []int64
	err := s.retriedWrite(ctx, func(tx *sql.Tx) error {
		lost = lost[:0]
		for start := 0; start < len(ids); start += deliveryChunk {
			chunk := ids[start:min(len(ids), start+deliveryChunk)]
			args := []any{until.UnixMilli(), owner}
			for _, id := range chunk {
				args = append(args, id)
			}
			held, err := updatedIDs(ctx, tx, s.q(`UPDATE deliveries SET lease_until = ? WHERE lease_owner = ? AND done = 0
				AND id IN (`+repeated("?", len(chunk))+`) RETURNING id`), args)
			if err != nil {
				return err
			}
			for _, id := range chunk {
				if !held[id] {
					lost = append(lost, id)
				}
			}
		}
		return nil
	})
	return lost, err
}

// FinishClaimedDeliveries records the outcomes of the deliveries owner
// holds, by one statement per deliveryChunk of them. A finished delivery
// keeps its owner's id, for the record.
func (s *Store) FinishClaimedDeliveries(ctx context.Context, owner string, outcomes []store.DeliveryOutcome) ([]int64, error) {
	now := time.Now().UnixMilli()
	var lost []int64
	err := s.retriedWrite(ctx, func(tx *sql.Tx) error {
		lost = lost[:0]
		for start := 0; start < len(outcomes); start += deliveryChunk {
			chunk := outcomes[start:min(len(outcomes), start+deliveryChunk)]
			var args []any
			for _, o := range chunk {
				var until int64
				if !o.Done && !o.RetryAt.IsZero() {
					until = o.RetryAt.UnixMilli()
				}
				args = append(args, o.ID, boolInt(o.Done), o.Reason, until)
			}
			args = append(args, now, owner)
			// The parameters of VALUES are cast: PostgreSQL would take
			// them as text.
			row := "(CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS BIGINT))"
			finished, err := updatedIDs(ctx, tx, s.q(`WITH v (vid, vdone, verror, vuntil) AS (VALUES `+
				repeated(row, len(chunk))+`)
				UPDATE deliveries SET done = v.vdone, attempts = attempts + 1, error = v.verror, processed_at = ?, lease_until = v.vuntil
				FROM v WHERE deliveries.id = v.vid AND deliveries.lease_owner = ? AND deliveries.done = 0
				RETURNING id`), args)
			if err != nil {
				return err
			}
			for _, o := range chunk {
				if !finished[o.ID] {
					lost = append(lost, o.ID)
				}
			}
		}
		return nil
	})
	return lost, err
}

// updatedIDs runs an UPDATE … RETURNING id and returns the ids.
func updatedIDs(ctx context.Context, tx *sql.Tx, query string, args []any) (map[int64]bool, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ids := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids[id] = true
	}
	return ids, rows.Err()
}

// ClaimCheck leases a check for an attempt: the UPDATE finds it only if no
// replica claimed that attempt first.
func (s *Store) ClaimCheck(ctx context.Context, id int64, owner string, now time.Time, p store.CheckPosting) (bool, error) {
	var next int64
	if !p.NextAttempt.IsZero() {
		next = p.NextAttempt.UnixMilli()
	}
	claimed := false
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		claimed, err = updatedOne(tx.ExecContext(ctx, s.q(`UPDATE checks SET lease_owner = ?, reported = ?, external_id = ?, posted = ?, attempts = ?, next_attempt = ?, error = ?
			WHERE id = ? AND reported = 0 AND attempts = ? AND next_attempt <= ?`),
			owner, boolInt(p.Reported), p.ExternalID, p.Posted, p.Attempts, next, p.Error, id, p.Attempts-1, now.UnixMilli()))
		return err
	})
	return claimed, err
}

// updatedOne tells whether a conditional update (a claim, a renewal)
// changed its row.
func updatedOne(res sql.Result, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// addSyncRow makes a repository's row of repository_syncs on first use.
func (s *Store) addSyncRow(ctx context.Context, tx *sql.Tx, repoID int64) error {
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO repository_syncs (repository_id) SELECT id FROM repositories WHERE id = ?
		ON CONFLICT (repository_id) DO NOTHING`), repoID)
	return err
}

// ClaimPullRequestRefresh sets a repository's next refresh of its pull
// requests if the current one is due.
func (s *Store) ClaimPullRequestRefresh(ctx context.Context, repoID int64, now, next time.Time) (bool, error) {
	claimed := false
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := s.addSyncRow(ctx, tx, repoID); err != nil {
			return err
		}
		var err error
		claimed, err = updatedOne(tx.ExecContext(ctx, s.q(`UPDATE repository_syncs SET next_refresh = ? WHERE repository_id = ? AND next_refresh <= ?`),
			next.UnixMilli(), repoID, now.UnixMilli()))
		return err
	})
	return claimed, err
}

// ClaimSync leases the sync of a repository, making its row on first use.
func (s *Store) ClaimSync(ctx context.Context, repoID int64, owner string, now, until time.Time, poll bool) (bool, time.Time, error) {
	claimed := false
	var next int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := s.addSyncRow(ctx, tx, repoID); err != nil {
			return err
		}
		q := `UPDATE repository_syncs SET lease_owner = ?, lease_until = ? WHERE repository_id = ? AND (lease_until <= ? OR lease_owner = ?)`
		args := []any{owner, until.UnixMilli(), repoID, now.UnixMilli(), owner}
		if poll {
			q += ` AND next_poll <= ?`
			args = append(args, now.UnixMilli())
		}
		var err error
		if claimed, err = updatedOne(tx.ExecContext(ctx, s.q(q), args...)); err != nil {
			return err
		}
		err = tx.QueryRowContext(ctx, s.q(`SELECT next_poll FROM repository_syncs WHERE repository_id = ?`), repoID).Scan(&next)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		return err
	})
	return claimed, unixMilli(next), err
}

// RenewSync extends owner's lease of a repository's sync.
func (s *Store) RenewSync(ctx context.Context, repoID int64, owner string, until time.Time) (bool, error) {
	held := false
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		held, err = updatedOne(tx.ExecContext(ctx, s.q(`UPDATE repository_syncs SET lease_until = ? WHERE repository_id = ? AND lease_owner = ?`),
			until.UnixMilli(), repoID, owner))
		return err
	})
	return held, err
}

// ReleaseSync ends owner's lease of a repository's sync and records its
// next poll.
func (s *Store) ReleaseSync(ctx context.Context, repoID int64, owner string, nextPoll time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if nextPoll.IsZero() {
			_, err := tx.ExecContext(ctx, s.q(`UPDATE repository_syncs SET lease_until = 0 WHERE repository_id = ? AND lease_owner = ?`), repoID, owner)
			return err
		}
		_, err := tx.ExecContext(ctx, s.q(`UPDATE repository_syncs SET lease_until = 0, next_poll = ?, polls = polls + 1
			WHERE repository_id = ? AND lease_owner = ?`), nextPoll.UnixMilli(), repoID, owner)
		return err
	})
}

// NextPoll returns when a repository is next polled and how many polls
// were recorded.
func (s *Store) NextPoll(ctx context.Context, repoID int64) (time.Time, int64, error) {
	var next, polls int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT next_poll, polls FROM repository_syncs WHERE repository_id = ?`), repoID).Scan(&next, &polls)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, 0, nil
	}
	return unixMilli(next), polls, err
}

// unixMilli is a time stored in Unix milliseconds, zero for 0.
func unixMilli(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
