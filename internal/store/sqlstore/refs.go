package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// This file reads the index's record of git for the reconciler
// (store.IndexWriter): refs, observations of packages, the trees and blobs
// it holds.

const refColumns = `name, target, contract, kind, package, workspace, revision, number, commit_id, tree_id, problem, published_by, published_at, published_workspace, pull_request`

func scanRef(row interface{ Scan(...any) error }) (store.RefRecord, error) {
	var r store.RefRecord
	var contract, kind int
	var at int64
	o := &r.Observation
	err := row.Scan(&r.Name, &r.Target, &contract, &kind, &o.Package, &o.Workspace, &o.Revision, &o.Number,
		&o.Commit, &o.Tree, &r.Problem, &o.By, &at, &o.PublishedWorkspace, &o.PullRequest)
	r.Contract = contract == 1
	o.Kind = revision.Kind(kind)
	o.Ref = r.Name
	o.At = timeOrZero(at)
	o.Problem = r.Problem
	return r, err
}

// Refs returns the refs last indexed for a repository, all or those named.
func (s *Store) Refs(ctx context.Context, repoID int64, names ...string) ([]store.RefRecord, error) {
	if len(names) == 0 {
		return s.refs(ctx, ``, repoID)
	}
	var out []store.RefRecord
	for _, chunk := range chunks(names, 400) {
		refs, err := s.refs(ctx, `AND name IN (`+placeholders(len(chunk))+`)`, append([]any{repoID}, args(chunk)...)...)
		if err != nil {
			return nil, err
		}
		out = append(out, refs...)
	}
	return out, nil
}

func (s *Store) refs(ctx context.Context, where string, qargs ...any) ([]store.RefRecord, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+refColumns+` FROM refs WHERE repository_id = ? `+where+` ORDER BY name`), qargs...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.RefRecord
	for rows.Next() {
		r, err := scanRef(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// RefsHash returns the digest of the refs stored with the last update.
func (s *Store) RefsHash(ctx context.Context, repoID int64) (string, error) {
	var h string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT refs_hash FROM repositories WHERE id = ?`), repoID).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return "", store.ErrNotFound
	}
	return h, err
}

// Observations returns the observations of the given packages. Branch
// observations carry the package, commit, tree, problem, publisher and
// time; the caller knows the branch and fills in the rest of the source.
func (s *Store) Observations(ctx context.Context, repoID int64, packages []string) ([]revision.Observation, error) {
	var out []revision.Observation
	for _, chunk := range chunks(packages, 400) {
		qargs := append([]any{repoID}, args(chunk)...)
		rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+refColumns+` FROM refs
			WHERE repository_id = ? AND contract = 1 AND package IN (`+placeholders(len(chunk))+`)`), qargs...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			r, err := scanRef(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, r.Observation)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		branch, err := s.branchRows(ctx, `AND package IN (`+placeholders(len(chunk))+`)`, qargs...)
		if err != nil {
			return nil, err
		}
		out = append(out, branch...)
	}
	return out, nil
}

// BranchPackages returns the head of the branch and its packages.
func (s *Store) BranchPackages(ctx context.Context, repoID int64) (string, []revision.Observation, error) {
	var commit string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT branch_commit FROM repositories WHERE id = ?`), repoID).Scan(&commit)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, store.ErrNotFound
	}
	if err != nil {
		return "", nil, err
	}
	obs, err := s.branchRows(ctx, "", repoID)
	return commit, obs, err
}

func (s *Store) branchRows(ctx context.Context, where string, qargs ...any) ([]revision.Observation, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT package, commit_id, tree_id, problem, published_by, published_at
		FROM branch_packages WHERE repository_id = ? `+where+` ORDER BY package`), qargs...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []revision.Observation
	for rows.Next() {
		o := revision.Observation{Source: revision.Source{Kind: revision.KindBranch}}
		var at int64
		if err := rows.Scan(&o.Package, &o.Commit, &o.Tree, &o.Problem, &o.By, &at); err != nil {
			return nil, err
		}
		o.At = timeOrZero(at)
		out = append(out, o)
	}
	return out, rows.Err()
}

// MissingTrees returns the tree ids whose files the index does not hold.
func (s *Store) MissingTrees(ctx context.Context, ids []string) ([]string, error) {
	return s.missing(ctx, `SELECT id FROM trees WHERE id IN `, ids)
}

// MissingBlobs returns the blob ids whose content the index does not hold.
func (s *Store) MissingBlobs(ctx context.Context, ids []string) ([]string, error) {
	return s.missing(ctx, `SELECT id FROM blobs WHERE id IN `, ids)
}

func (s *Store) missing(ctx context.Context, query string, ids []string) ([]string, error) {
	have := map[string]bool{}
	for _, chunk := range chunks(ids, 400) {
		rows, err := s.db.QueryContext(ctx, s.q(query+`(`+placeholders(len(chunk))+`)`), args(chunk)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			have[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	var out []string
	for _, id := range ids {
		if !have[id] {
			out = append(out, id)
			have[id] = true // once, even if asked twice
		}
	}
	return out, nil
}
