package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// This file is the index writer: one repository's update, applied in one
// transaction (store.IndexWriter.UpdateIndex).

// UpdateIndex applies an update in one transaction.
func (s *Store) UpdateIndex(ctx context.Context, repoID int64, u *store.IndexUpdate) error {
	err := s.versionedWrite(ctx, func(tx *sql.Tx) error {
		w := &indexWriter{s: s, ctx: ctx, tx: tx, repoID: repoID}
		return w.apply(u)
	})
	if err == nil {
		s.revisionsChanged()
	}
	if err == nil && (u.Full || len(u.Refs)+len(u.Packages) > 1000) {
		// A large update may change the tables' sizes by orders of
		// magnitude.
		err = s.optimize(ctx)
	}
	return err
}

type indexWriter struct {
	s      *Store
	ctx    context.Context
	tx     *sql.Tx
	repoID int64
	rv     int64
	// oldTrees are trees that revisions stopped using: garbage unless
	// another revision uses them. orphanBlobs were stored for no tree.
	oldTrees    []string
	orphanBlobs []string
	// metas are the metas of trees, as revisions and events need them,
	// and validations the repository's, by tree: only those that say
	// something. known lists (sorted) the trees whose meta and validation
	// the maps hold if they have any: the trees of the update's revisions.
	// A full index of 100,000 trees keeps no entry for the many Kptfiles
	// that say nothing.
	metas       map[string]treeMeta
	validations map[string]*store.Validation
	known       []string
	// complete is set when the revisions given to recordChange carry their
	// meta and validation already (read from the index, or just set).
	complete bool
}

// isKnown tells a tree whose meta and validation are in the maps if any.
func (w *indexWriter) isKnown(tree string) bool {
	_, ok := slices.BinarySearch(w.known, tree)
	return ok
}

type treeMeta struct {
	meta    revision.Meta
	encoded string
}

func (w *indexWriter) exec(query string, a ...any) error {
	_, err := w.tx.ExecContext(w.ctx, w.s.q(query), a...)
	return err
}

func (w *indexWriter) apply(u *store.IndexUpdate) error {
	var namespace, repoName string
	var objData string
	err := w.tx.QueryRowContext(w.ctx, w.s.q(`SELECT namespace, name, object FROM repositories WHERE id = ?`), w.repoID).Scan(&namespace, &repoName, &objData)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("repository %d: %w", w.repoID, store.ErrNotFound)
	}
	if err != nil {
		return err
	}
	if w.rv, err = w.s.nextResourceVersion(w.ctx, w.tx); err != nil {
		return err
	}
	if u.Full {
		if w.oldTrees, err = w.s.repositoryTrees(w.ctx, w.tx, w.repoID); err != nil {
			return err
		}
		for _, table := range []string{"revisions", "packages", "refs", "branch_packages", "problems"} {
			if err := w.exec(`DELETE FROM `+table+` WHERE repository_id = ?`, w.repoID); err != nil {
				return err
			}
		}
	}
	if err := w.refs(u); err != nil {
		return err
	}
	if err := w.branch(u); err != nil {
		return err
	}
	inc, err := w.trees(u.Trees)
	if err != nil {
		return err
	}
	if err := w.blobs(u, inc); err != nil {
		return err
	}
	for _, pkg := range slices.Sorted(maps.Keys(u.Problems)) {
		if err := w.exec(`DELETE FROM problems WHERE repository_id = ? AND package = ?`, w.repoID, pkg); err != nil {
			return err
		}
		for _, p := range u.Problems[pkg] {
			if err := w.exec(`INSERT INTO problems (repository_id, package, ref, message) VALUES (?, ?, ?, ?)`, w.repoID, pkg, p.Ref, p.Message); err != nil {
				return err
			}
		}
	}
	if err := w.prefetch(u.Packages); err != nil {
		return err
	}
	if u.Full {
		// Nothing is left to compare with: insert everything in bulk, and
		// let watches list again rather than replay every revision.
		if err := w.insertRevisions(namespace, repoName, u.Packages); err != nil {
			return err
		}
		if err := w.relistRepository(namespace, repoName); err != nil {
			return err
		}
	} else {
		for _, pkg := range slices.Sorted(maps.Keys(u.Packages)) {
			if err := w.packageRevisions(namespace, repoName, pkg, u.Packages[pkg]); err != nil {
				return err
			}
		}
	}
	if err := w.dropManagedFields(); err != nil {
		return err
	}
	if err := w.dropValidations(); err != nil {
		return err
	}
	if err := w.s.collectGarbage(w.ctx, w.tx, w.oldTrees, w.orphanBlobs); err != nil {
		return err
	}
	return w.status(u, objData)
}

// dropValidations forgets the validations of trees the repository's
// revisions stopped using (other repositories may still use the trees).
func (w *indexWriter) dropValidations() error {
	trees := slices.Compact(slices.Sorted(slices.Values(w.oldTrees)))
	for _, chunk := range chunks(trees, 400) {
		in := placeholders(len(chunk))
		a := append(append([]any{w.repoID}, args(chunk)...), w.repoID)
		if err := w.exec(`DELETE FROM validations WHERE repository_id = ? AND tree_id IN (`+in+`)
			AND tree_id NOT IN (SELECT tree_id FROM revisions WHERE repository_id = ? AND tree_id IN (`+in+`))`,
			append(a, args(chunk)...)...); err != nil {
			return err
		}
	}
	return nil
}

// prefetch reads, a few hundred at a time, the meta of the trees the
// update's revisions use and their validations in the repository: work in
// proportion to the update.
func (w *indexWriter) prefetch(pkgs map[string][]revision.Revision) error {
	var trees []string
	for _, revs := range pkgs {
		for _, r := range revs {
			trees = append(trees, r.Tree)
		}
	}
	trees = slices.Compact(slices.Sorted(slices.Values(trees)))
	for _, chunk := range chunks(trees, 400) {
		rows, err := w.tx.QueryContext(w.ctx, w.s.q(`SELECT id, meta FROM trees WHERE id IN (`+placeholders(len(chunk))+`) AND meta <> ''`), args(chunk)...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id, encoded string
			if err := rows.Scan(&id, &encoded); err != nil {
				rows.Close()
				return err
			}
			m, err := decodeMeta(encoded)
			if err != nil {
				rows.Close()
				return err
			}
			w.setMeta(id, m, encoded)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	var has int
	err := w.tx.QueryRowContext(w.ctx, w.s.q(`SELECT COUNT(*) FROM (SELECT 1 FROM validations WHERE repository_id = ? LIMIT 1) AS v`), w.repoID).Scan(&has)
	if err != nil {
		return err
	}
	for _, chunk := range chunks(trees, 400) {
		if has == 0 {
			break
		}
		rows, err := w.tx.QueryContext(w.ctx, w.s.q(`SELECT tree_id, errors, warnings, validated_at FROM validations
			WHERE repository_id = ? AND tree_id IN (`+placeholders(len(chunk))+`)`), append([]any{w.repoID}, args(chunk)...)...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			var at int64
			v := &store.Validation{}
			if err := rows.Scan(&id, &v.Errors, &v.Warnings, &at); err != nil {
				rows.Close()
				return err
			}
			v.At = time.UnixMilli(at).UTC()
			if w.validations == nil {
				w.validations = map[string]*store.Validation{}
			}
			w.validations[id] = v
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	w.known = trees
	return nil
}

func (w *indexWriter) refs(u *store.IndexUpdate) error {
	for _, name := range u.DeletedRefs {
		if err := w.exec(`DELETE FROM refs WHERE repository_id = ? AND name = ?`, w.repoID, name); err != nil {
			return err
		}
	}
	if len(u.Refs) == 0 {
		return nil
	}
	b := w.s.newBulkInsert(w.ctx, w.tx, `INSERT INTO refs (repository_id, `+refColumns+`)`, 16,
		`ON CONFLICT (repository_id, name) DO UPDATE SET target = excluded.target, contract = excluded.contract,
		kind = excluded.kind, package = excluded.package, workspace = excluded.workspace, revision = excluded.revision,
		number = excluded.number, commit_id = excluded.commit_id, tree_id = excluded.tree_id, problem = excluded.problem,
		published_by = excluded.published_by, published_at = excluded.published_at, published_workspace = excluded.published_workspace, pull_request = excluded.pull_request`)
	for _, r := range u.Refs {
		o := r.Observation
		if err := b.add(w.repoID, r.Name, r.Target, boolInt(r.Contract), int(o.Kind), o.Package, o.Workspace,
			o.Revision, o.Number, o.Commit, o.Tree, r.Problem, o.By, unixOrZero(o.At), o.PublishedWorkspace, o.PullRequest); err != nil {
			return err
		}
	}
	return b.flush()
}

func (w *indexWriter) branch(u *store.IndexUpdate) error {
	if u.BranchCommit != "" || u.Full {
		if err := w.exec(`UPDATE repositories SET branch_commit = ? WHERE id = ?`, u.BranchCommit, w.repoID); err != nil {
			return err
		}
	}
	for _, pkg := range u.DeletedBranch {
		if err := w.exec(`DELETE FROM branch_packages WHERE repository_id = ? AND package = ?`, w.repoID, pkg); err != nil {
			return err
		}
	}
	if len(u.Branch) == 0 {
		return nil
	}
	b := w.s.newBulkInsert(w.ctx, w.tx, `INSERT INTO branch_packages (repository_id, package, commit_id, tree_id, problem, published_by, published_at)`, 7,
		`ON CONFLICT (repository_id, package) DO UPDATE SET commit_id = excluded.commit_id, tree_id = excluded.tree_id,
		problem = excluded.problem, published_by = excluded.published_by, published_at = excluded.published_at`)
	for _, o := range u.Branch {
		if err := b.add(w.repoID, o.Package, o.Commit, o.Tree, o.Problem, o.By, unixOrZero(o.At)); err != nil {
			return err
		}
	}
	return b.flush()
}

// trees writes new package trees and returns, for each blob they list, how
// many of the trees written list it: the increments of its reference count.
func (w *indexWriter) trees(trees []store.Tree) (map[string]int64, error) {
	rows := make([][]any, len(trees))
	for i, t := range trees {
		var meta string
		var err error
		if t.Meta != nil {
			meta, err = encodeMeta(*t.Meta)
		}
		if err != nil {
			return nil, err
		}
		rows[i] = []any{t.ID, encodeFiles(t.Files), meta}
	}
	inserted, err := w.s.insertReturning(w.ctx, w.tx, `INSERT INTO trees (id, files, meta)`, 3, `ON CONFLICT (id) DO NOTHING RETURNING id`, rows)
	if err != nil {
		return nil, err
	}
	isNew := map[string]bool{}
	for _, id := range inserted {
		isNew[id] = true
	}
	inc := map[string]int64{}
	labels := w.s.newBulkInsert(w.ctx, w.tx, `INSERT INTO tree_labels (tree_id, key, value)`, 3, ``)
	for _, t := range trees {
		if !isNew[t.ID] {
			continue // another repository stored it meanwhile (its meta is the index's)
		}
		for _, f := range t.Files {
			inc[f.BlobID]++
		}
		if t.Meta == nil {
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(t.Meta.Labels)) {
			if err := labels.add(t.ID, k, t.Meta.Labels[k]); err != nil {
				return nil, err
			}
		}
	}
	return inc, labels.flush()
}

// treeMeta returns the meta of a tree of the index or of this update.
func (w *indexWriter) treeMeta(tree string) (revision.Meta, error) {
	m, _, err := w.treeMetaEncoded(tree)
	return m, err
}

// treeMetaEncoded returns the meta of a tree, and as revisions keep it.
func (w *indexWriter) treeMetaEncoded(tree string) (revision.Meta, string, error) {
	if m, ok := w.metas[tree]; ok {
		return m.meta, m.encoded, nil
	}
	if w.isKnown(tree) {
		return revision.Meta{}, "", nil
	}
	var encoded sql.NullString
	err := w.tx.QueryRowContext(w.ctx, w.s.q(`SELECT meta FROM trees WHERE id = ?`), tree).Scan(&encoded)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return revision.Meta{}, "", err
	}
	m, err := decodeMeta(encoded.String)
	if err != nil {
		return m, "", err
	}
	w.setMeta(tree, m, encoded.String)
	return m, encoded.String, nil
}

func (w *indexWriter) setMeta(tree string, m revision.Meta, encoded string) {
	if encoded == "" && w.isKnown(tree) {
		return
	}
	if w.metas == nil {
		w.metas = map[string]treeMeta{}
	}
	w.metas[tree] = treeMeta{m, encoded}
}

// validation returns the last validation of a tree in the repository, nil
// if none.
func (w *indexWriter) validation(tree string) (*store.Validation, error) {
	if v, ok := w.validations[tree]; ok || w.isKnown(tree) {
		return v, nil
	}
	var v *store.Validation
	var errs, warnings int
	var at int64
	err := w.tx.QueryRowContext(w.ctx, w.s.q(`SELECT errors, warnings, validated_at FROM validations WHERE repository_id = ? AND tree_id = ?`),
		w.repoID, tree).Scan(&errs, &warnings, &at)
	switch {
	case err == nil:
		v = &store.Validation{Errors: errs, Warnings: warnings, At: time.UnixMilli(at).UTC()}
	case !errors.Is(err, sql.ErrNoRows):
		return nil, err
	}
	if w.validations == nil {
		w.validations = map[string]*store.Validation{}
	}
	w.validations[tree] = v
	return v, nil
}

// derived returns the columns a revision copies from its tree: meta, and
// the counts and time of the tree's last validation in the repository.
func (w *indexWriter) derived(tree string) ([]any, error) {
	_, encoded, err := w.treeMetaEncoded(tree)
	if err != nil {
		return nil, err
	}
	v, err := w.validation(tree)
	if err != nil || v == nil {
		return []any{encoded, 0, 0, 0}, err
	}
	return []any{encoded, v.Errors, v.Warnings, v.At.UnixMilli()}, nil
}

// blobs stores the content streamed by u.Blobs and adds the references of
// the new trees to every blob they list.
func (w *indexWriter) blobs(u *store.IndexUpdate, inc map[string]int64) error {
	streamed := map[string]bool{}
	if u.Blobs != nil {
		b := w.s.newBulkInsert(w.ctx, w.tx, `INSERT INTO blobs (id, refs, data)`, 3, `ON CONFLICT (id) DO UPDATE SET refs = blobs.refs + excluded.refs`)
		if err := u.Blobs(func(id string, data []byte) error {
			if streamed[id] {
				return nil
			}
			streamed[id] = true
			if data == nil {
				data = []byte{}
			}
			if inc[id] == 0 {
				w.orphanBlobs = append(w.orphanBlobs, id)
			}
			return b.add(id, inc[id], data)
		}); err != nil {
			return err
		}
		if err := b.flush(); err != nil {
			return err
		}
	}
	for _, id := range slices.Sorted(maps.Keys(inc)) {
		if streamed[id] {
			continue
		}
		res, err := w.tx.ExecContext(w.ctx, w.s.q(`UPDATE blobs SET refs = refs + ? WHERE id = ?`), inc[id], id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("blob %s of a new tree is neither stored nor given", id)
		}
	}
	return nil
}

// encodeFiles packs a tree's file list into one value, a line per file.
func encodeFiles(files []store.File) string {
	var b strings.Builder
	for _, f := range files {
		fmt.Fprintf(&b, "%o %s %s\n", f.Mode, f.BlobID, f.Path)
	}
	return b.String()
}

func decodeFiles(s string) ([]store.File, error) {
	var out []store.File
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		if line == "" {
			continue
		}
		mode, rest, ok1 := strings.Cut(line, " ")
		blob, path, ok2 := strings.Cut(rest, " ")
		m, err := strconv.ParseUint(mode, 8, 32)
		if !ok1 || !ok2 || err != nil {
			return nil, fmt.Errorf("malformed tree file list line %q", line)
		}
		out = append(out, store.File{Path: path, Mode: uint32(m), BlobID: blob})
	}
	return out, nil
}
