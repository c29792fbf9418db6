package sqlstore

import (
	"context"
	"database/sql"
	"maps"
	"slices"
)

// This file collects the trees and blobs no revision uses any more, in the
// transaction of the write that stopped using them.

// repositoryTrees returns the trees a repository's revisions use.
func (s *Store) repositoryTrees(ctx context.Context, tx *sql.Tx, repoID int64) ([]string, error) {
	rows, err := tx.QueryContext(ctx, s.q(`SELECT DISTINCT tree_id FROM revisions WHERE repository_id = ?`), repoID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// collectGarbage deletes the trees no revision uses any more, releases
// their blobs, and deletes the blobs no tree lists.
func (s *Store) collectGarbage(ctx context.Context, tx *sql.Tx, trees, blobs []string) error {
	slices.Sort(trees)
	trees = slices.Compact(trees)
	dec := map[string]int64{}
	for _, chunk := range chunks(trees, 400) {
		used := map[string]bool{}
		rows, err := tx.QueryContext(ctx, s.q(`SELECT DISTINCT tree_id FROM revisions WHERE tree_id IN (`+placeholders(len(chunk))+`)`), args(chunk)...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var t string
			if err := rows.Scan(&t); err != nil {
				rows.Close()
				return err
			}
			used[t] = true
		}
		rows.Close()
		var unused []string
		for _, t := range chunk {
			if !used[t] {
				unused = append(unused, t)
			}
		}
		if len(unused) == 0 {
			continue
		}
		frows, err := tx.QueryContext(ctx, s.q(`SELECT files FROM trees WHERE id IN (`+placeholders(len(unused))+`)`), args(unused)...)
		if err != nil {
			return err
		}
		for frows.Next() {
			var files string
			if err := frows.Scan(&files); err != nil {
				frows.Close()
				return err
			}
			list, err := decodeFiles(files)
			if err != nil {
				frows.Close()
				return err
			}
			for _, f := range list {
				dec[f.BlobID]++
			}
		}
		frows.Close()
		for _, table := range []string{"trees WHERE id", "tree_labels WHERE tree_id", "validations WHERE tree_id"} {
			if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM `+table+` IN (`+placeholders(len(unused))+`)`), args(unused)...); err != nil {
				return err
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(dec)) {
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE blobs SET refs = refs - ? WHERE id = ?`), dec[id], id); err != nil {
			return err
		}
		blobs = append(blobs, id)
	}
	slices.Sort(blobs)
	for _, chunk := range chunks(slices.Compact(blobs), 400) {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM blobs WHERE refs <= 0 AND id IN (`+placeholders(len(chunk))+`)`), args(chunk)...); err != nil {
			return err
		}
	}
	return nil
}
