package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// revisionListColumns and revisionFrom read revisions with what their
// tree's Kptfile says and the counts of their tree's last validation,
// copied onto each row.
var revisionListColumns = `r.namespace, r.repository, r.resource_version, r.` + strings.ReplaceAll(revisionColumns, ", ", ", r.") +
	`, r.meta, r.validation_errors, r.validation_warnings, r.validated_at`

const revisionFrom = ` FROM revisions r`

func scanRevision(row interface{ Scan(...any) error }) (store.Revision, error) {
	var sr store.Revision
	r := &sr.Revision
	var at, created int64
	var latest int
	var lifecycle string
	var meta string
	var errs, warnings, validatedAt int64
	err := row.Scan(&sr.Namespace, &sr.Repository, &sr.ResourceVersion, &r.Name, &r.Package, &r.Workspace, &r.Revision, &r.Number,
		&lifecycle, &r.Ref, &r.DeletionRef, &r.Commit, &r.Tree, &r.PublishedBy, &at, &latest, &r.PullRequest, &created, &meta, &errs, &warnings, &validatedAt)
	if err != nil {
		return sr, err
	}
	r.Lifecycle, r.PublishedAt, r.Latest, r.CreatedAt = revision.Lifecycle(lifecycle), timeOrZero(at), latest == 1, timeOrZero(created)
	if sr.Meta, err = decodeMeta(meta); err != nil {
		return sr, fmt.Errorf("meta of tree %s: %w", r.Tree, err)
	}
	if validatedAt != 0 {
		sr.Validation = &store.Validation{Errors: int(errs), Warnings: int(warnings), At: time.UnixMilli(validatedAt).UTC()}
	}
	return sr, nil
}

// encodeMeta packs a tree's meta, "" when it says nothing.
func encodeMeta(m revision.Meta) (string, error) {
	if m.Empty() {
		return "", nil
	}
	b, err := json.Marshal(m)
	return string(b), err
}

func decodeMeta(s string) (revision.Meta, error) {
	var m revision.Meta
	if s == "" {
		return m, nil
	}
	err := json.Unmarshal([]byte(s), &m)
	return m, err
}

// labelCondition is the SQL of a label requirement, on the revision's tree.
func labelCondition(req store.LabelRequirement) (string, []any, error) {
	switch req.Operator {
	case store.LabelIn, store.LabelNotIn:
		if len(req.Values) == 0 {
			return "", nil, fmt.Errorf("label %s: %s needs values", req.Key, req.Operator)
		}
		cond := `r.tree_id IN (SELECT tree_id FROM tree_labels WHERE key = ? AND value IN (` + placeholders(len(req.Values)) + `))`
		if req.Operator == store.LabelNotIn {
			cond = "NOT " + cond
		}
		return cond, append([]any{req.Key}, args(req.Values)...), nil
	case store.LabelExists:
		return `r.tree_id IN (SELECT tree_id FROM tree_labels WHERE key = ?)`, []any{req.Key}, nil
	case store.LabelNotExists:
		return `r.tree_id NOT IN (SELECT tree_id FROM tree_labels WHERE key = ?)`, []any{req.Key}, nil
	}
	return "", nil, fmt.Errorf("label %s: operator %q", req.Key, req.Operator)
}

// ListRevisions lists revisions ordered by namespace and name, with the
// resource version of the snapshot they were read from.
func (s *Store) ListRevisions(ctx context.Context, opts store.ListOptions) (*store.RevisionList, error) {
	// One read transaction: the resource version and the rows are of the
	// same snapshot.
	tx, err := s.readTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return s.listRevisions(ctx, tx, opts)
}

// listRevisions reads a page of revisions in a read transaction.
func (s *Store) listRevisions(ctx context.Context, tx *sql.Tx, opts store.ListOptions) (*store.RevisionList, error) {
	var where []string
	var qargs []any
	eq := func(col, val string) {
		if val != "" {
			where = append(where, "r."+col+" = ?")
			qargs = append(qargs, val)
		}
	}
	eq("namespace", opts.Namespace)
	eq("name", opts.Name)
	eq("repository", opts.Repository)
	eq("package", opts.Package)
	eq("workspace", opts.Workspace)
	eq("revision", opts.Revision)
	eq("lifecycle", opts.Lifecycle)
	if opts.Latest != nil {
		where = append(where, "r.latest = ?")
		qargs = append(qargs, boolInt(*opts.Latest))
	}
	for _, req := range opts.Labels {
		cond, a, err := labelCondition(req)
		if err != nil {
			return nil, err
		}
		where = append(where, cond)
		qargs = append(qargs, a...)
	}
	if opts.Continue != "" {
		ns, name, err := store.ParseContinue(opts.Continue)
		if err != nil {
			return nil, err
		}
		// Written so that the index on (namespace, name) seeks to the
		// position rather than scanning up to it.
		if opts.Namespace != "" {
			if ns != opts.Namespace {
				return nil, store.ErrInvalidContinue // a token of another list
			}
			where = append(where, "r.name > ?")
			qargs = append(qargs, name)
		} else {
			where = append(where, "(r.namespace, r.name) > (?, ?)")
			qargs = append(qargs, ns, name)
		}
	}
	query := `SELECT ` + revisionListColumns + revisionFrom
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY r.namespace, r.name`
	if opts.Limit > 0 {
		query += ` LIMIT ?`
		qargs = append(qargs, opts.Limit+1)
	}
	listStmt, err := s.txStmt(ctx, tx, query)
	if err != nil {
		return nil, err
	}
	rvStmt, err := s.txStmt(ctx, tx, `SELECT value FROM counters WHERE name = 'resource_version'`)
	if err != nil {
		return nil, err
	}
	list := &store.RevisionList{}
	if err := rvStmt.QueryRowContext(ctx).Scan(&list.ResourceVersion); err != nil {
		return nil, err
	}
	rows, err := listStmt.QueryContext(ctx, qargs...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRevision(rows)
		if err != nil {
			return nil, err
		}
		list.Items = append(list.Items, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if opts.Limit > 0 && len(list.Items) > opts.Limit {
		list.Items = list.Items[:opts.Limit]
		last := list.Items[len(list.Items)-1]
		list.Continue = store.ContinueToken(last.Namespace, last.Name)
	}
	return list, nil
}

// GetRevision returns one revision.
func (s *Store) GetRevision(ctx context.Context, namespace, name string) (*store.Revision, error) {
	st, err := s.stmt(ctx, `SELECT `+revisionListColumns+revisionFrom+` WHERE r.namespace = ? AND r.name = ?`)
	if err != nil {
		return nil, err
	}
	r, err := scanRevision(st.QueryRowContext(ctx, namespace, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("package revision %s/%s: %w", namespace, name, store.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// TreeFiles returns the file list of a package tree.
func (s *Store) TreeFiles(ctx context.Context, tree string) ([]store.File, error) {
	var packed string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT files FROM trees WHERE id = ?`), tree).Scan(&packed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("tree %s: %w", tree, store.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return decodeFiles(packed)
}

// Resources returns the files of a revision with their content.
func (s *Store) Resources(ctx context.Context, namespace, name string) (map[string][]byte, error) {
	r, err := s.GetRevision(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	out, err := s.treeContent(ctx, s.db, r.Tree)
	if err != nil {
		return nil, fmt.Errorf("files of %s/%s: %w", namespace, name, err)
	}
	return out, nil
}
