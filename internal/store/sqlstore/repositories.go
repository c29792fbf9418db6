package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/pkgserver/pkgserver/internal/store"
)

func newUID() types.UID {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return types.UID(fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]))
}

// CreateRepository registers a repository.
func (s *Store) CreateRepository(ctx context.Context, r *store.Repository) error {
	return s.versionedWrite(ctx, func(tx *sql.Tx) error {
		rv, err := s.nextResourceVersion(ctx, tx)
		if err != nil {
			return err
		}
		now := time.Now().UTC().Truncate(time.Second)
		obj := r.Object
		obj.ResourceVersion = strconv.FormatInt(rv, 10)
		obj.CreationTimestamp = metav1.NewTime(now)
		if obj.UID == "" {
			obj.UID = newUID()
		}
		data, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		var id int64
		err = tx.QueryRowContext(ctx, s.q(`INSERT INTO repositories (namespace, name, object, resource_version, created_at)
			VALUES (?, ?, ?, ?, ?) RETURNING id`), obj.Namespace, obj.Name, string(data), rv, now.Unix()).Scan(&id)
		if err != nil {
			if isUniqueViolation(err) {
				return fmt.Errorf("repository %s/%s: %w", obj.Namespace, obj.Name, store.ErrExists)
			}
			return err
		}
		r.ID, r.Object = id, obj
		return s.recordRepositoryEvent(ctx, tx, store.Added, rv, &obj, "")
	})
}

const repositoryColumns = `id, object, resource_version`

func scanRepository(row interface{ Scan(...any) error }) (*store.Repository, error) {
	var r store.Repository
	var data string
	var rv int64
	if err := row.Scan(&r.ID, &data, &rv); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(data), &r.Object); err != nil {
		return nil, fmt.Errorf("repository %d: %w", r.ID, err)
	}
	r.Object.ResourceVersion = strconv.FormatInt(rv, 10)
	return &r, nil
}

// GetRepository returns one repository.
func (s *Store) GetRepository(ctx context.Context, namespace, name string) (*store.Repository, error) {
	r, err := scanRepository(s.db.QueryRowContext(ctx, s.q(`SELECT `+repositoryColumns+` FROM repositories WHERE namespace = ? AND name = ?`), namespace, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("repository %s/%s: %w", namespace, name, store.ErrNotFound)
	}
	return r, err
}

// ListRepositories lists the repositories of a namespace, or of all with "".
func (s *Store) ListRepositories(ctx context.Context, namespace string) ([]*store.Repository, error) {
	return s.listRepositories(ctx, s.db, namespace)
}

// ListRepositoriesAt lists the repositories of a namespace with the
// resource version of the same read transaction.
func (s *Store) ListRepositoriesAt(ctx context.Context, namespace string) ([]*store.Repository, int64, error) {
	tx, err := s.readTx(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer tx.Rollback()
	var rv int64
	if err := tx.QueryRowContext(ctx, s.q(`SELECT value FROM counters WHERE name = 'resource_version'`)).Scan(&rv); err != nil {
		return nil, 0, err
	}
	repos, err := s.listRepositories(ctx, tx, namespace)
	return repos, rv, err
}

func (s *Store) listRepositories(ctx context.Context, q querier, namespace string) ([]*store.Repository, error) {
	query := `SELECT ` + repositoryColumns + ` FROM repositories`
	var qargs []any
	if namespace != "" {
		query += ` WHERE namespace = ?`
		qargs = append(qargs, namespace)
	}
	rows, err := q.QueryContext(ctx, s.q(query+` ORDER BY namespace, name`), qargs...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.Repository
	for rows.Next() {
		r, err := scanRepository(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// UpdateRepository writes a repository if it has not changed since it was
// read.
func (s *Store) UpdateRepository(ctx context.Context, r *store.Repository) error {
	expected, err := strconv.ParseInt(r.Object.ResourceVersion, 10, 64)
	if err != nil {
		return fmt.Errorf("repository %s/%s: invalid resource version %q: %w", r.Object.Namespace, r.Object.Name, r.Object.ResourceVersion, store.ErrConflict)
	}
	return s.versionedWrite(ctx, func(tx *sql.Tx) error {
		// The state before, for the event. The write itself is
		// conditional on the resource version the caller read: the
		// state read here may be older than the one a concurrent
		// transaction commits first, where writes are not serialized.
		var previous string
		var current int64
		err := tx.QueryRowContext(ctx, s.q(`SELECT object, resource_version FROM repositories WHERE namespace = ? AND name = ?`),
			r.Object.Namespace, r.Object.Name).Scan(&previous, &current)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("repository %s/%s: %w", r.Object.Namespace, r.Object.Name, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if current != expected {
			// Without taking a resource version for nothing.
			return fmt.Errorf("repository %s/%s: %w", r.Object.Namespace, r.Object.Name, store.ErrConflict)
		}
		rv, err := s.nextResourceVersion(ctx, tx)
		if err != nil {
			return err
		}
		obj := r.Object
		obj.ResourceVersion = strconv.FormatInt(rv, 10)
		data, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.q(`UPDATE repositories SET object = ?, resource_version = ? WHERE namespace = ? AND name = ? AND resource_version = ?`),
			string(data), rv, obj.Namespace, obj.Name, expected)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("repository %s/%s: %w", r.Object.Namespace, r.Object.Name, store.ErrConflict)
		}
		if err := s.recordRepositoryEvent(ctx, tx, store.Modified, rv, &obj, previous); err != nil {
			return err
		}
		r.Object = obj
		return nil
	})
}

// DeleteRepository removes a repository and its index.
func (s *Store) DeleteRepository(ctx context.Context, namespace, name string) error {
	defer s.revisionsChanged()
	return s.versionedWrite(ctx, func(tx *sql.Tx) error {
		last, err := scanRepository(tx.QueryRowContext(ctx, s.q(`SELECT `+repositoryColumns+` FROM repositories WHERE namespace = ? AND name = ?`), namespace, name))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("repository %s/%s: %w", namespace, name, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		id := last.ID
		trees, err := s.repositoryTrees(ctx, tx, id)
		if err != nil {
			return err
		}
		rv, err := s.nextResourceVersion(ctx, tx)
		if err != nil {
			return err
		}
		w := &indexWriter{s: s, ctx: ctx, tx: tx, repoID: id, rv: rv, complete: true}
		rows, err := tx.QueryContext(ctx, s.q(`SELECT `+revisionListColumns+revisionFrom+` WHERE r.repository_id = ?`), id)
		if err != nil {
			return err
		}
		var gone []store.Revision
		for rows.Next() {
			r, err := scanRevision(rows)
			if err != nil {
				rows.Close()
				return err
			}
			gone = append(gone, r)
		}
		rows.Close()
		for _, r := range gone {
			r.ResourceVersion = rv
			if err := w.recordChange(store.Deleted, r, nil); err != nil {
				return err
			}
		}
		// Its last state, at the resource version of its deletion, as a
		// deleted revision's.
		last.Object.ResourceVersion = strconv.FormatInt(rv, 10)
		if err := s.recordRepositoryEvent(ctx, tx, store.Deleted, rv, &last.Object, ""); err != nil {
			return err
		}
		for _, table := range []string{"revisions", "packages", "refs", "branch_packages", "problems", "pull_requests"} {
			if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM `+table+` WHERE repository_id = ?`), id); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM checks WHERE namespace = ? AND repository = ?`), namespace, name); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM repositories WHERE id = ?`), id); err != nil {
			return err
		}
		return s.collectGarbage(ctx, tx, trees, nil)
	})
}
