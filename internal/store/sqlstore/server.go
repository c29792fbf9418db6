package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
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

// Kinds of the objects whose changes the events table logs.
const (
	kindRevision   = "PackageRevision"
	kindRepository = "Repository"
)

// relist is the type of the event a full reindex of a repository records
// instead of one per revision: a watch that may see the repository's
// revisions and reads past it must list again.
const relist = "RELIST"

// Events returns the changes of revisions after a resource version.
func (s *Store) Events(ctx context.Context, after int64, limit int) ([]store.Event, error) {
	return s.FilteredEvents(ctx, after, limit, store.EventFilter{})
}

// FilteredEvents returns the changes of the revisions a filter selects
// after a resource version; the filter is the query's, so that a watch of
// one revision decodes no other.
func (s *Store) FilteredEvents(ctx context.Context, after int64, limit int, f store.EventFilter) ([]store.Event, error) {
	var out []store.Event
	err := s.events(ctx, kindRevision, f, after, limit, func(typ, obj, prev string) error {
		if typ == relist {
			return store.ErrCompacted
		}
		e := store.Event{Type: typ}
		if err := json.Unmarshal([]byte(obj), &e.Revision); err != nil {
			return err
		}
		if prev != "" {
			e.Previous = &store.Revision{}
			if err := json.Unmarshal([]byte(prev), e.Previous); err != nil {
				return err
			}
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// RepositoryEvents returns the changes of repositories after a resource
// version.
func (s *Store) RepositoryEvents(ctx context.Context, after int64, limit int) ([]store.RepositoryEvent, error) {
	var out []store.RepositoryEvent
	err := s.events(ctx, kindRepository, store.EventFilter{}, after, limit, func(typ, obj, prev string) error {
		e := store.RepositoryEvent{Type: typ}
		if err := json.Unmarshal([]byte(obj), &e.Repository); err != nil {
			return err
		}
		rv, err := strconv.ParseInt(e.Repository.ResourceVersion, 10, 64)
		if err != nil {
			return fmt.Errorf("event of repository %s/%s: resource version %q", e.Repository.Namespace, e.Repository.Name, e.Repository.ResourceVersion)
		}
		e.ResourceVersion = rv
		if prev != "" {
			e.Previous = &configv1alpha1.Repository{}
			if err := json.Unmarshal([]byte(prev), e.Previous); err != nil {
				return err
			}
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// events reads the changes of objects of a kind a filter selects after a
// resource version, in order, at most limit (rounded up to a whole
// transaction's). A relist marker of a repository is read whatever the
// name filter: its name is no revision's.
func (s *Store) events(ctx context.Context, kind string, f store.EventFilter, after int64, limit int, fn func(typ, obj, prev string) error) error {
	if limit <= 0 || limit > eventLimit {
		limit = eventLimit
	}
	where := `kind = ? AND resource_version > ?`
	wargs := []any{kind, after}
	if f.Namespace != "" {
		where += ` AND namespace = ?`
		wargs = append(wargs, f.Namespace)
	}
	if f.Repository != "" {
		where += ` AND repository = ?`
		wargs = append(wargs, f.Repository)
	}
	if f.Name != "" {
		where += ` AND (name = ? OR type = ?)`
		wargs = append(wargs, f.Name, relist)
	}
	tx, err := s.readTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var compacted int64
	if err := tx.QueryRowContext(ctx, s.q(`SELECT value FROM counters WHERE name = 'events_compacted'`)).Scan(&compacted); err != nil {
		return err
	}
	if after < compacted {
		return store.ErrCompacted
	}
	// Whole transactions only: a watch resumes after a resource version,
	// so the changes of one must never be split between two answers.
	var last sql.NullInt64
	if err := tx.QueryRowContext(ctx, s.q(fmt.Sprintf(`SELECT MAX(resource_version) FROM (SELECT resource_version FROM events
		WHERE %s ORDER BY resource_version LIMIT %d) AS page`, where, limit)), wargs...).Scan(&last); err != nil {
		return err
	}
	if !last.Valid {
		return nil
	}
	rows, err := tx.QueryContext(ctx, s.q(`SELECT type, object, previous FROM events WHERE `+where+` AND resource_version <= ?
		ORDER BY `+s.d.eventOrder), append(wargs, last.Int64)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var typ, obj, prev string
		if err := rows.Scan(&typ, &obj, &prev); err != nil {
			return err
		}
		if err := fn(typ, obj, prev); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ListResources reads a page of revisions and, on demand, their files,
// all in one read transaction: the trees of the page's revisions are there
// however long the caller takes, even if the revisions change meanwhile.
// Callers keep pages small: the transaction holds the database's log from
// being checkpointed while it lasts.
func (s *Store) ListResources(ctx context.Context, opts store.ListOptions, fn func(list *store.RevisionList, files func(i int, content bool) (map[string][]byte, error)) error) error {
	tx, err := s.readTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	list, err := s.listRevisions(ctx, tx, opts)
	if err != nil {
		return err
	}
	return fn(list, func(i int, content bool) (map[string][]byte, error) {
		r := list.Items[i]
		var out map[string][]byte
		var err error
		if content {
			out, err = s.treeContent(ctx, tx, r.Tree)
		} else {
			out, err = s.treePaths(ctx, tx, r.Tree)
		}
		if err != nil {
			return nil, fmt.Errorf("files of %s/%s: %w", r.Namespace, r.Name, err)
		}
		return out, nil
	})
}

// TreeResources returns the files of a package tree with their content.
func (s *Store) TreeResources(ctx context.Context, tree string) (map[string][]byte, error) {
	return s.treeContent(ctx, s.db, tree)
}

// querier is a database or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// treeFiles returns the file list of a package tree.
func (s *Store) treeFiles(ctx context.Context, q querier, tree string) ([]store.File, error) {
	var packed string
	err := q.QueryRowContext(ctx, s.q(`SELECT files FROM trees WHERE id = ?`), tree).Scan(&packed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("tree %s: %w", tree, store.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return decodeFiles(packed)
}

// treePaths returns the files of a package tree without their content
// (nil), from its file list alone.
func (s *Store) treePaths(ctx context.Context, q querier, tree string) (map[string][]byte, error) {
	files, err := s.treeFiles(ctx, q, tree)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(files))
	for _, f := range files {
		out[f.Path] = nil
	}
	return out, nil
}

// treeContent returns the files of a package tree with their content.
func (s *Store) treeContent(ctx context.Context, q querier, tree string) (map[string][]byte, error) {
	files, err := s.treeFiles(ctx, q, tree)
	if err != nil {
		return nil, err
	}
	byBlob := map[string][]string{}
	for _, f := range files {
		byBlob[f.BlobID] = append(byBlob[f.BlobID], f.Path)
	}
	out := make(map[string][]byte, len(files))
	ids := make([]string, 0, len(byBlob))
	for id := range byBlob {
		ids = append(ids, id)
	}
	for _, chunk := range chunks(ids, 400) {
		rows, err := q.QueryContext(ctx, s.q(`SELECT id, data FROM blobs WHERE id IN (`+placeholders(len(chunk))+`)`), args(chunk)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id string
			var data []byte
			if err := rows.Scan(&id, &data); err != nil {
				rows.Close()
				return nil, err
			}
			for _, p := range byBlob[id] {
				out[p] = data
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	if len(out) != len(files) {
		return nil, fmt.Errorf("%d of %d blobs are missing from the index", len(files)-len(out), len(files))
	}
	return out, nil
}

// CompactEvents forgets the changes recorded before a time.
func (s *Store) CompactEvents(ctx context.Context, before time.Time) error {
	// Under the lock of versioned writes: a full reindex deletes events
	// too, and two deletes of rows in other orders would deadlock.
	return s.versionedWrite(ctx, func(tx *sql.Tx) error {
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
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE counters SET value = ? WHERE name = 'events_compacted' AND value < ?`), newest.Int64, newest.Int64); err != nil {
			return err
		}
		// Watches from before the compaction must list again.
		return s.notifyOthers(ctx, tx)
	})
}

// recordChange appends a change of a revision to the log, with, for a
// modification, the revision before it (without its validation, which no
// selector reads). Unless the writer is complete, the meta and validation
// of an addition's or a modification's revision are looked up by its tree;
// a deletion's revision and a previous state carry theirs, as the index
// held them.
func (w *indexWriter) recordChange(typ string, r store.Revision, prev *store.Revision) error {
	if (typ == store.Modified) != (prev != nil) {
		return fmt.Errorf("event of %s/%s: a modification, and only one, is recorded with the state before it", r.Namespace, r.Name)
	}
	if !w.complete && typ != store.Deleted {
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
	var previous []byte
	if prev != nil {
		p := *prev
		p.Validation = nil
		if previous, err = json.Marshal(p); err != nil {
			return err
		}
	}
	return w.exec(`INSERT INTO events (resource_version, kind, namespace, repository, name, type, object, previous, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		w.rv, kindRevision, r.Namespace, r.Repository, r.Name, typ, string(data), string(previous), time.Now().Unix())
}

// recordRepositoryEvent appends a change of a repository to the log: its
// state at resource version rv (its last state for a deletion) and, for a
// modification, the JSON of its state before.
func (s *Store) recordRepositoryEvent(ctx context.Context, tx *sql.Tx, typ string, rv int64, obj *configv1alpha1.Repository, previous string) error {
	if typ == store.Modified && previous == "" {
		return fmt.Errorf("event of repository %s/%s: a modification is recorded with the state before it", obj.Namespace, obj.Name)
	}
	data, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO events (resource_version, kind, namespace, repository, name, type, object, previous, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		rv, kindRepository, obj.Namespace, obj.Name, obj.Name, typ, string(data), previous, time.Now().Unix())
	return err
}

// relistRepository records, after a full rebuild of the repository's
// revisions, that watches which may see them must list again, rather than
// an event per revision; the repository's earlier revision events are
// dropped, unreachable past the marker. Watches of other repositories and
// of repositories themselves go on.
func (w *indexWriter) relistRepository(namespace, repoName string) error {
	if err := w.exec(`DELETE FROM events WHERE kind = ? AND namespace = ? AND repository = ? AND resource_version < ?`,
		kindRevision, namespace, repoName, w.rv); err != nil {
		return err
	}
	return w.exec(`INSERT INTO events (resource_version, kind, namespace, repository, name, type, object, previous, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		w.rv, kindRevision, namespace, repoName, "", relist, "", "", time.Now().Unix())
}

// UpdateRepositoryStatus changes a repository's status. A change of
// lastSyncTime alone (an idle sync) is written in place, with neither a
// new resource version nor an event: otherwise every repository would
// log a modification, and every watch of repositories print one, at every
// tick of the scheduler.
func (s *Store) UpdateRepositoryStatus(ctx context.Context, namespace, name string, fn func(*configv1alpha1.RepositoryStatus)) error {
	return s.versionedWrite(ctx, func(tx *sql.Tx) error {
		var id int64
		var data string
		err := tx.QueryRowContext(ctx, s.q(`SELECT id, object FROM repositories WHERE namespace = ? AND name = ?`), namespace, name).Scan(&id, &data)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("repository %s/%s: %w", namespace, name, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		var obj, before configv1alpha1.Repository
		if err := json.Unmarshal([]byte(data), &obj); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(data), &before); err != nil {
			return err
		}
		fn(&obj.Status)
		same, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		probe := obj
		probe.Status.LastSyncTime = before.Status.LastSyncTime
		unchanged, err := json.Marshal(probe)
		if err != nil {
			return err
		}
		switch {
		case string(same) == data:
			return nil
		case string(unchanged) == data:
			_, err := tx.ExecContext(ctx, s.q(`UPDATE repositories SET object = ? WHERE id = ?`), string(same), id)
			return err
		}
		rv, err := s.nextResourceVersion(ctx, tx)
		if err != nil {
			return err
		}
		obj.ResourceVersion = fmt.Sprint(rv)
		out, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		if _, err = tx.ExecContext(ctx, s.q(`UPDATE repositories SET object = ?, resource_version = ? WHERE id = ?`), string(out), rv, id); err != nil {
			return err
		}
		return s.recordRepositoryEvent(ctx, tx, store.Modified, rv, &obj, data)
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

// Ping checks that the database answers. Its error says so in a few words
// that name nothing of the database's address (for /readyz), and wraps
// the cause.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return unavailableError{err}
	}
	return nil
}
