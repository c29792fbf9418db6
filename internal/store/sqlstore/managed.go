package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/pkgserver/pkgserver/internal/store"
)

// ManagedFields returns the field managers recorded for an object.
func (s *Store) ManagedFields(ctx context.Context, namespace, resource, name string) (*store.ManagedFields, error) {
	st, err := s.stmt(ctx, `SELECT r.name, m.fields FROM managed_fields m JOIN repositories r ON r.id = m.repository_id
		WHERE m.namespace = ? AND m.resource = ? AND m.name = ?`)
	if err != nil {
		return nil, err
	}
	m := &store.ManagedFields{Namespace: namespace, Resource: resource, Name: name}
	var fields string
	err = st.QueryRowContext(ctx, namespace, resource, name).Scan(&m.Repository, &fields)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("managed fields of %s %s/%s: %w", resource, namespace, name, store.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	m.Fields = []byte(fields)
	return m, nil
}

// ListManagedFields returns every object's field managers, for a copy of
// the index into another database (pkgserver migrate).
func (s *Store) ListManagedFields(ctx context.Context) ([]store.ManagedFields, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT m.namespace, m.resource, m.name, r.name, m.fields
		FROM managed_fields m JOIN repositories r ON r.id = m.repository_id ORDER BY m.namespace, m.name, m.resource`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.ManagedFields
	for rows.Next() {
		var m store.ManagedFields
		var fields string
		if err := rows.Scan(&m.Namespace, &m.Resource, &m.Name, &m.Repository, &fields); err != nil {
			return nil, err
		}
		m.Fields = []byte(fields)
		out = append(out, m)
	}
	return out, rows.Err()
}

// SetManagedFields replaces the field managers of an object.
func (s *Store) SetManagedFields(ctx context.Context, m *store.ManagedFields) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var repoID int64
		err := tx.QueryRowContext(ctx, s.q(`SELECT id FROM repositories WHERE namespace = ? AND name = ?`), m.Namespace, m.Repository).Scan(&repoID)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("repository %s/%s: %w", m.Namespace, m.Repository, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO managed_fields (repository_id, namespace, resource, name, fields, updated_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (namespace, resource, name)
			DO UPDATE SET repository_id = excluded.repository_id, fields = excluded.fields, updated_at = excluded.updated_at`),
			repoID, m.Namespace, m.Resource, m.Name, string(m.Fields), time.Now().Unix())
		return err
	})
}

// DeleteManagedFields forgets the field managers of every resource of a
// name.
func (s *Store) DeleteManagedFields(ctx context.Context, namespace, name string) error {
	// Under the lock of versioned writes: an index update deletes field
	// managers too (dropManagedFields), and two deletes of rows in other
	// orders would deadlock.
	return s.versionedWrite(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`DELETE FROM managed_fields WHERE namespace = ? AND name = ?`), namespace, name)
		return err
	})
}

// dropManagedFields forgets the field managers of the repository's
// revisions the index no longer has, in the transaction that removes them:
// a revision deleted other than through the API (its branch deleted by a
// push, gone at a reindex) takes its managers with it, and one made again
// under its name starts without them.
func (w *indexWriter) dropManagedFields() error {
	return w.exec(`DELETE FROM managed_fields WHERE repository_id = ? AND NOT EXISTS
		(SELECT 1 FROM revisions r WHERE r.namespace = managed_fields.namespace AND r.name = managed_fields.name)`, w.repoID)
}
