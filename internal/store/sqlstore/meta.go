package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// TreesWithoutMeta returns trees indexed before their meta was kept, with
// the content of their Kptfiles, in the order of their ids after one.
func (s *Store) TreesWithoutMeta(ctx context.Context, after string, limit int) ([]store.TreeKptfile, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, files FROM trees WHERE id > ? AND meta IS NULL ORDER BY id LIMIT ?`), after, limit)
	if err != nil {
		return nil, err
	}
	var out []store.TreeKptfile
	blobOf := map[string]string{}
	for rows.Next() {
		var id, packed string
		if err := rows.Scan(&id, &packed); err != nil {
			rows.Close()
			return nil, err
		}
		files, err := decodeFiles(packed)
		if err != nil {
			rows.Close()
			return nil, err
		}
		for _, f := range files {
			if f.Path == "Kptfile" {
				blobOf[id] = f.BlobID
			}
		}
		out = append(out, store.TreeKptfile{Tree: id})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		id, ok := blobOf[out[i].Tree]
		if !ok {
			continue
		}
		err := s.db.QueryRowContext(ctx, s.q(`SELECT data FROM blobs WHERE id = ?`), id).Scan(&out[i].Kptfile)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
	}
	return out, nil
}

// SetTreeMeta records the meta of trees indexed without it, and their
// labels. The revisions with those trees change: a new resource version
// and a Modified event each, so that watches see them enter selections and
// writes based on what they showed before are refused as stale.
func (s *Store) SetTreeMeta(ctx context.Context, metas map[string]revision.Meta) error {
	defer s.revisionsChanged()
	return s.versionedWrite(ctx, func(tx *sql.Tx) error {
		var rv int64
		for _, id := range slices.Sorted(maps.Keys(metas)) {
			m := metas[id]
			meta, err := encodeMeta(m)
			if err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, s.q(`UPDATE trees SET meta = ? WHERE id = ? AND meta IS NULL`), meta, id)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue
			}
			for _, k := range slices.Sorted(maps.Keys(m.Labels)) {
				if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO tree_labels (tree_id, key, value) VALUES (?, ?, ?) ON CONFLICT (tree_id, key) DO NOTHING`),
					id, k, m.Labels[k]); err != nil {
					return err
				}
			}
			if m.Empty() {
				continue // the revisions show what they showed
			}
			revs, err := s.revisionsOfTree(ctx, tx, `r.tree_id = ?`, id)
			if err != nil || len(revs) == 0 {
				return err
			}
			if rv == 0 {
				if rv, err = s.nextResourceVersion(ctx, tx); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE revisions SET meta = ?, resource_version = ? WHERE tree_id = ?`), meta, rv, id); err != nil {
				return err
			}
			for _, r := range revs {
				w := &indexWriter{s: s, ctx: ctx, tx: tx, repoID: r.repoID, rv: rv, complete: true}
				prev := r.Revision
				r.ResourceVersion, r.Meta = rv, m
				if err := w.recordChange(store.Modified, r.Revision, &prev); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// repoRevision is a revision with its repository's id.
type repoRevision struct {
	store.Revision
	repoID int64
}

// revisionsOfTree reads the revisions a condition on r selects.
func (s *Store) revisionsOfTree(ctx context.Context, tx *sql.Tx, cond string, a ...any) ([]repoRevision, error) {
	rows, err := tx.QueryContext(ctx, s.q(`SELECT r.repository_id, `+revisionListColumns+revisionFrom+` WHERE `+cond), a...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []repoRevision
	for rows.Next() {
		var rr repoRevision
		var id int64
		r, err := scanRevision(prefixScanner{rows, &id})
		if err != nil {
			return nil, err
		}
		rr.Revision, rr.repoID = r, id
		out = append(out, rr)
	}
	return out, rows.Err()
}

// prefixScanner scans one leading column into first, the rest as asked.
type prefixScanner struct {
	rows  *sql.Rows
	first *int64
}

func (p prefixScanner) Scan(dest ...any) error {
	return p.rows.Scan(append([]any{p.first}, dest...)...)
}

// RecordValidations keeps the outcomes of validating trees in a
// repository. The revisions of the repository with those trees change
// (their validated condition): they get a new resource version and a
// Modified event. Trees no revision of the repository has are not kept.
func (s *Store) RecordValidations(ctx context.Context, repoID int64, vs map[string]*store.Validation) error {
	if len(vs) == 0 {
		return nil
	}
	defer s.revisionsChanged()
	return s.versionedWrite(ctx, func(tx *sql.Tx) error {
		var w *indexWriter
		for _, tree := range slices.Sorted(maps.Keys(vs)) {
			v := vs[tree]
			revs, err := s.revisionsOfTree(ctx, tx, `r.repository_id = ? AND r.tree_id = ?`, repoID, tree)
			if err != nil {
				return err
			}
			if len(revs) == 0 {
				continue
			}
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO validations (repository_id, tree_id, errors, warnings, results, validated_at) VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (repository_id, tree_id) DO UPDATE SET errors = excluded.errors, warnings = excluded.warnings,
				results = excluded.results, validated_at = excluded.validated_at`),
				repoID, tree, v.Errors, v.Warnings, string(v.Results), v.At.UnixMilli()); err != nil {
				return err
			}
			if w == nil {
				rv, err := s.nextResourceVersion(ctx, tx)
				if err != nil {
					return err
				}
				w = &indexWriter{s: s, ctx: ctx, tx: tx, repoID: repoID, rv: rv, complete: true}
			}
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE revisions SET resource_version = ?, validation_errors = ?, validation_warnings = ?, validated_at = ?
				WHERE repository_id = ? AND tree_id = ?`), w.rv, v.Errors, v.Warnings, v.At.UnixMilli(), repoID, tree); err != nil {
				return err
			}
			for _, r := range revs {
				prev := r.Revision
				r.ResourceVersion = w.rv
				r.Validation = &store.Validation{Errors: v.Errors, Warnings: v.Warnings, At: time.UnixMilli(v.At.UnixMilli()).UTC()}
				if err := w.recordChange(store.Modified, r.Revision, &prev); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// Validation returns the last validation of a tree in a repository, with
// its findings.
func (s *Store) Validation(ctx context.Context, repoID int64, tree string) (*store.Validation, error) {
	v := &store.Validation{}
	var at int64
	var results string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT errors, warnings, results, validated_at FROM validations WHERE repository_id = ? AND tree_id = ?`),
		repoID, tree).Scan(&v.Errors, &v.Warnings, &results, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("validation of tree %s: %w", tree, store.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	v.Results, v.At = []byte(results), time.UnixMilli(at).UTC()
	return v, nil
}
