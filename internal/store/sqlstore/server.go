package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/store"
)

// broadcaster wakes every waiter at once: the channel it hands out is
// closed at the next change and replaced.
type broadcaster struct {
	mu sync.Mutex
	ch chan struct{}
}

func (b *broadcaster) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch == nil {
		b.ch = make(chan struct{})
	}
	return b.ch
}

func (b *broadcaster) notify() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch != nil {
		close(b.ch)
		b.ch = nil
	}
}

// Changed returns a channel closed at the next committed change.
func (s *Store) Changed() <-chan struct{} { return s.changes.wait() }

// ResourceVersion is the current resource version.
func (s *Store) ResourceVersion(ctx context.Context) (int64, error) {
	var rv int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT value FROM counters WHERE name = 'resource_version'`)).Scan(&rv)
	return rv, err
}

// eventLimit bounds the events returned at once.
const eventLimit = 10000

// Events returns the changes after a resource version.
func (s *Store) Events(ctx context.Context, after int64, limit int) ([]store.Event, error) {
	if limit <= 0 || limit > eventLimit {
		limit = eventLimit
	}
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var compacted int64
	if err := tx.QueryRowContext(ctx, s.q(`SELECT value FROM counters WHERE name = 'events_compacted'`)).Scan(&compacted); err != nil {
		return nil, err
	}
	if after < compacted {
		return nil, store.ErrCompacted
	}
	// Whole transactions only: a watch resumes after a resource version,
	// so the changes of one must never be split between two answers.
	var last sql.NullInt64
	if err := tx.QueryRowContext(ctx, s.q(fmt.Sprintf(`SELECT MAX(resource_version) FROM (SELECT resource_version FROM events
		WHERE resource_version > ? ORDER BY resource_version LIMIT %d) AS page`, limit)), after).Scan(&last); err != nil {
		return nil, err
	}
	if !last.Valid {
		return nil, nil
	}
	rows, err := tx.QueryContext(ctx, s.q(`SELECT type, object FROM events WHERE resource_version > ? AND resource_version <= ?
		AND kind = 'PackageRevision' ORDER BY resource_version`), after, last.Int64)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Event
	for rows.Next() {
		var e store.Event
		var obj string
		if err := rows.Scan(&e.Type, &obj); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(obj), &e.Revision); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// CompactEvents forgets the changes recorded before a time.
func (s *Store) CompactEvents(ctx context.Context, before time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var newest sql.NullInt64
		if err := tx.QueryRowContext(ctx, s.q(`SELECT MAX(resource_version) FROM events WHERE created_at < ?`), before.Unix()).Scan(&newest); err != nil {
			return err
		}
		if !newest.Valid {
			return nil
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM events WHERE resource_version <= ?`), newest.Int64); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q(`UPDATE counters SET value = ? WHERE name = 'events_compacted' AND value < ?`), newest.Int64, newest.Int64)
		return err
	})
}

// recordEvent appends a change of a revision to the log.
func (w *indexWriter) recordEvent(typ string, r store.Revision) error {
	if !w.complete {
		var err error
		if r.Meta, err = w.treeMeta(r.Tree); err != nil {
			return err
		}
		if r.Validation, err = w.validation(r.Tree); err != nil {
			return err
		}
	}
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return w.exec(`INSERT INTO events (resource_version, kind, namespace, name, type, object, created_at) VALUES (?, 'PackageRevision', ?, ?, ?, ?, ?)`,
		w.rv, r.Namespace, r.Name, typ, string(data), time.Now().Unix())
}

// compactAll forgets every change before this transaction: after a full
// rebuild, watches must list again.
func (w *indexWriter) compactAll() error {
	if err := w.exec(`DELETE FROM events`); err != nil {
		return err
	}
	return w.exec(`UPDATE counters SET value = ? WHERE name = 'events_compacted'`, w.rv-1)
}

// UpdateRepositoryStatus changes a repository's status.
func (s *Store) UpdateRepositoryStatus(ctx context.Context, namespace, name string, fn func(*configv1alpha1.RepositoryStatus)) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var id int64
		var data string
		err := tx.QueryRowContext(ctx, s.q(`SELECT id, object FROM repositories WHERE namespace = ? AND name = ?`), namespace, name).Scan(&id, &data)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("repository %s/%s: %w", namespace, name, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		var obj configv1alpha1.Repository
		if err := json.Unmarshal([]byte(data), &obj); err != nil {
			return err
		}
		fn(&obj.Status)
		rv, err := s.nextResourceVersion(ctx, tx)
		if err != nil {
			return err
		}
		obj.ResourceVersion = fmt.Sprint(rv)
		out, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE repositories SET object = ?, resource_version = ? WHERE id = ?`), string(out), rv, id)
		return err
	})
}

// CreateToken stores a token.
func (s *Store) CreateToken(ctx context.Context, t *store.Token) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO tokens (name, hash, namespace, role, created_at) VALUES (?, ?, ?, ?, ?)`),
			t.Name, t.Hash, t.Namespace, string(t.Role), t.CreatedAt.Unix())
		if err != nil && isUniqueViolation(err) {
			return fmt.Errorf("token %q: %w", t.Name, store.ErrExists)
		}
		return err
	})
}

func scanToken(row interface{ Scan(...any) error }) (store.Token, error) {
	var t store.Token
	var role string
	var at int64
	err := row.Scan(&t.Name, &t.Hash, &t.Namespace, &role, &at)
	t.Role, t.CreatedAt = store.Role(role), time.Unix(at, 0).UTC()
	return t, err
}

// ListTokens lists the tokens, by name.
func (s *Store) ListTokens(ctx context.Context) ([]store.Token, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT name, hash, namespace, role, created_at FROM tokens ORDER BY name`))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// DeleteToken revokes a token.
func (s *Store) DeleteToken(ctx context.Context, name string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM tokens WHERE name = ?`), name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("token %q: %w", name, store.ErrNotFound)
		}
		return nil
	})
}

// TokenByHash finds a token by its hash.
func (s *Store) TokenByHash(ctx context.Context, hash string) (*store.Token, error) {
	t, err := scanToken(s.db.QueryRowContext(ctx, s.q(`SELECT name, hash, namespace, role, created_at FROM tokens WHERE hash = ?`), hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// PutSecret stores sealed credentials, replacing any of the same name.
func (s *Store) PutSecret(ctx context.Context, namespace, name string, sealed []byte) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO secrets (namespace, name, sealed, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (namespace, name) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at`),
			namespace, name, sealed, time.Now().Unix())
		return err
	})
}

// GetSecret returns sealed credentials.
func (s *Store) GetSecret(ctx context.Context, namespace, name string) ([]byte, error) {
	var sealed []byte
	err := s.db.QueryRowContext(ctx, s.q(`SELECT sealed FROM secrets WHERE namespace = ? AND name = ?`), namespace, name).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("secret %s/%s: %w", namespace, name, store.ErrNotFound)
	}
	return sealed, err
}

// DeleteSecret removes a secret.
func (s *Store) DeleteSecret(ctx context.Context, namespace, name string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM secrets WHERE namespace = ? AND name = ?`), namespace, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("secret %s/%s: %w", namespace, name, store.ErrNotFound)
		}
		return nil
	})
}

// ListSecrets names the stored secrets.
func (s *Store) ListSecrets(ctx context.Context) ([]store.SecretRef, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT namespace, name, updated_at FROM secrets ORDER BY namespace, name`))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.SecretRef
	for rows.Next() {
		var r store.SecretRef
		var at int64
		if err := rows.Scan(&r.Namespace, &r.Name, &at); err != nil {
			return nil, err
		}
		r.UpdatedAt = time.Unix(at, 0).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// CountRevisions returns the number of revisions indexed.
func (s *Store) CountRevisions(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM revisions`).Scan(&n)
	return n, err
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }
