package sqlstore

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// This file holds the index writer's revisions of packages and its record
// of the sync in the repository's status.

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
