package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

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

// UpdateIndex applies an update in one transaction.
func (s *Store) UpdateIndex(ctx context.Context, repoID int64, u *store.IndexUpdate) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
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

const revisionColumns = `name, package, workspace, revision, number, lifecycle, ref, deletion_ref, commit_id, tree_id, published_by, published_at, latest, pull_request, created_at`

// derivedColumns are what a revision copies from its tree (see derived).
const (
	derivedColumns    = `meta, validation_errors, validation_warnings, validated_at`
	derivedColumnsSet = `meta = ?, validation_errors = ?, validation_warnings = ?, validated_at = ?`
)

// storedRevision is a revision as the index holds it, with the meta and
// validation its row copies from its tree: its state in an event.
type storedRevision struct {
	id         int64
	r          revision.Revision
	meta       revision.Meta
	validation *store.Validation
}

// packageRevisions makes the revisions of one package the given ones:
// unchanged rows keep their resource version, changed and new ones get the
// transaction's.
func (w *indexWriter) packageRevisions(namespace, repoName, pkg string, revs []revision.Revision) error {
	rows, err := w.tx.QueryContext(w.ctx, w.s.q(`SELECT id, `+revisionColumns+`, `+derivedColumns+` FROM revisions WHERE repository_id = ? AND package = ?`), w.repoID, pkg)
	if err != nil {
		return err
	}
	existing := map[string]storedRevision{}
	for rows.Next() {
		var sr storedRevision
		r := &sr.r
		var at, created, validatedAt int64
		var latest, errs, warnings int
		var lifecycle, meta string
		if err := rows.Scan(&sr.id, &r.Name, &r.Package, &r.Workspace, &r.Revision, &r.Number, &lifecycle, &r.Ref, &r.DeletionRef,
			&r.Commit, &r.Tree, &r.PublishedBy, &at, &latest, &r.PullRequest, &created, &meta, &errs, &warnings, &validatedAt); err != nil {
			rows.Close()
			return err
		}
		r.Lifecycle, r.PublishedAt, r.Latest, r.CreatedAt = revision.Lifecycle(lifecycle), timeOrZero(at), latest == 1, timeOrZero(created)
		if sr.meta, err = decodeMeta(meta); err != nil {
			rows.Close()
			return err
		}
		if validatedAt != 0 {
			sr.validation = &store.Validation{Errors: errs, Warnings: warnings, At: time.UnixMilli(validatedAt).UTC()}
		}
		existing[r.Name] = sr
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}

	var pkgID int64
	if len(revs) > 0 {
		if err := w.exec(`INSERT INTO packages (repository_id, path) VALUES (?, ?) ON CONFLICT (repository_id, path) DO NOTHING`, w.repoID, pkg); err != nil {
			return err
		}
		if err := w.tx.QueryRowContext(w.ctx, w.s.q(`SELECT id FROM packages WHERE repository_id = ? AND path = ?`), w.repoID, pkg).Scan(&pkgID); err != nil {
			return err
		}
	}
	for _, r := range revs {
		old, ok := existing[r.Name]
		delete(existing, r.Name)
		switch {
		case ok && sameRevision(old.r, r):
			continue
		case ok:
			if old.r.Tree != r.Tree {
				w.oldTrees = append(w.oldTrees, old.r.Tree)
			}
			if err := w.recordChange(store.Modified, store.Revision{Revision: r, Namespace: namespace, Repository: repoName, ResourceVersion: w.rv},
				&store.Revision{Revision: old.r, Namespace: namespace, Repository: repoName, Meta: old.meta}); err != nil {
				return err
			}
			derived, err := w.derived(r.Tree)
			if err != nil {
				return err
			}
			if err := w.exec(`UPDATE revisions SET workspace = ?, revision = ?, number = ?, lifecycle = ?, ref = ?, deletion_ref = ?,
				commit_id = ?, tree_id = ?, published_by = ?, published_at = ?, latest = ?, pull_request = ?, created_at = ?, resource_version = ?,
				`+derivedColumnsSet+` WHERE id = ?`,
				append(append([]any{r.Workspace, r.Revision, r.Number, string(r.Lifecycle), r.Ref, r.DeletionRef, r.Commit, r.Tree, r.PublishedBy,
					unixOrZero(r.PublishedAt), boolInt(r.Latest), r.PullRequest, unixOrZero(r.CreatedAt), w.rv}, derived...), old.id)...); err != nil {
				return err
			}
		default:
			derived, err := w.derived(r.Tree)
			if err != nil {
				return err
			}
			if err := w.exec(`INSERT INTO revisions (repository_id, package_id, namespace, repository, `+revisionColumns+`, resource_version, `+derivedColumns+`)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				append([]any{w.repoID, pkgID, namespace, repoName, r.Name, pkg, r.Workspace, r.Revision, r.Number, string(r.Lifecycle), r.Ref,
					r.DeletionRef, r.Commit, r.Tree, r.PublishedBy, unixOrZero(r.PublishedAt), boolInt(r.Latest), r.PullRequest, unixOrZero(r.CreatedAt), w.rv}, derived...)...); err != nil {
				if isUniqueViolation(err) {
					return fmt.Errorf("revision %s/%s: %w", namespace, r.Name, store.ErrExists)
				}
				return err
			}
			if err := w.recordChange(store.Added, store.Revision{Revision: r, Namespace: namespace, Repository: repoName, ResourceVersion: w.rv}, nil); err != nil {
				return err
			}
		}
	}
	for _, old := range existing {
		w.oldTrees = append(w.oldTrees, old.r.Tree)
		if err := w.exec(`DELETE FROM revisions WHERE id = ?`, old.id); err != nil {
			return err
		}
		if err := w.recordChange(store.Deleted, store.Revision{Revision: old.r, Namespace: namespace, Repository: repoName, ResourceVersion: w.rv,
			Meta: old.meta, Validation: old.validation}, nil); err != nil {
			return err
		}
	}
	if len(revs) == 0 {
		return w.exec(`DELETE FROM packages WHERE repository_id = ? AND path = ?`, w.repoID, pkg)
	}
	return nil
}

// insertRevisions writes the revisions of packages the repository has none
// of yet.
func (w *indexWriter) insertRevisions(namespace, repoName string, pkgs map[string][]revision.Revision) error {
	paths := slices.Sorted(maps.Keys(pkgs))
	b := w.s.newBulkInsert(w.ctx, w.tx, `INSERT INTO packages (repository_id, path)`, 2, `ON CONFLICT (repository_id, path) DO NOTHING`)
	for _, p := range paths {
		if len(pkgs[p]) > 0 {
			if err := b.add(w.repoID, p); err != nil {
				return err
			}
		}
	}
	if err := b.flush(); err != nil {
		return err
	}
	ids := map[string]int64{}
	rows, err := w.tx.QueryContext(w.ctx, w.s.q(`SELECT id, path FROM packages WHERE repository_id = ?`), w.repoID)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id int64
		var path string
		if err := rows.Scan(&id, &path); err != nil {
			rows.Close()
			return err
		}
		ids[path] = id
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	b = w.s.newBulkInsert(w.ctx, w.tx, `INSERT INTO revisions (repository_id, package_id, namespace, repository, `+revisionColumns+`, resource_version, `+derivedColumns+`)`, 24, ``)
	for _, p := range paths {
		for _, r := range pkgs[p] {
			derived, err := w.derived(r.Tree)
			if err != nil {
				return err
			}
			if err := b.add(append([]any{w.repoID, ids[p], namespace, repoName, r.Name, p, r.Workspace, r.Revision, r.Number, string(r.Lifecycle), r.Ref,
				r.DeletionRef, r.Commit, r.Tree, r.PublishedBy, unixOrZero(r.PublishedAt), boolInt(r.Latest), r.PullRequest, unixOrZero(r.CreatedAt), w.rv}, derived...)...); err != nil {
				if isUniqueViolation(err) {
					return fmt.Errorf("revision %s/%s: %w", namespace, r.Name, store.ErrExists)
				}
				return err
			}
		}
	}
	return b.flush()
}

func sameRevision(a, b revision.Revision) bool {
	a.PublishedAt, b.PublishedAt = a.PublishedAt.Truncate(time.Second).UTC(), b.PublishedAt.Truncate(time.Second).UTC()
	a.CreatedAt, b.CreatedAt = a.CreatedAt.Truncate(time.Second).UTC(), b.CreatedAt.Truncate(time.Second).UTC()
	return a == b
}

// status records the sync in the repository's status.
func (w *indexWriter) status(u *store.IndexUpdate, objData string) error {
	var obj configv1alpha1.Repository
	if err := json.Unmarshal([]byte(objData), &obj); err != nil {
		return err
	}
	var count int
	if err := w.tx.QueryRowContext(w.ctx, w.s.q(`SELECT COUNT(*) FROM packages WHERE repository_id = ?`), w.repoID).Scan(&count); err != nil {
		return err
	}
	st := &obj.Status
	st.PackageCount = count
	if u.BranchCommit != "" || u.Full {
		st.Commit = u.BranchCommit
	}
	problems, err := w.problems()
	if err != nil {
		return err
	}
	st.Problems = problems
	if !u.SyncedAt.IsZero() {
		t := metav1.NewTime(u.SyncedAt.UTC().Truncate(time.Second))
		st.LastSyncTime = &t
	}
	obj.ResourceVersion = strconv.FormatInt(w.rv, 10)
	data, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	if err := w.exec(`UPDATE repositories SET object = ?, resource_version = ?, refs_hash = ? WHERE id = ?`, string(data), w.rv, u.RefsHash, w.repoID); err != nil {
		return err
	}
	return w.s.recordRepositoryEvent(w.ctx, w.tx, store.Modified, w.rv, &obj, objData)
}

// maxStatusProblems caps the problems listed in a repository's status.
const maxStatusProblems = 100

func (w *indexWriter) problems() ([]string, error) {
	// Problems of packages, and of refs that name no package.
	rows, err := w.tx.QueryContext(w.ctx, w.s.q(`SELECT ref, message FROM (
		SELECT package, ref, message FROM problems WHERE repository_id = ?
		UNION ALL SELECT '' AS package, name AS ref, problem AS message FROM refs WHERE repository_id = ? AND package = '' AND problem <> ''
		) AS p ORDER BY package, ref, message`), w.repoID, w.repoID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	n := 0
	for rows.Next() {
		var p revision.Problem
		if err := rows.Scan(&p.Ref, &p.Message); err != nil {
			return nil, err
		}
		if n++; n <= maxStatusProblems {
			out = append(out, p.String())
		}
	}
	if n > maxStatusProblems {
		out = append(out, fmt.Sprintf("... and %d more", n-maxStatusProblems))
	}
	return out, rows.Err()
}

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
