package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/pkgserver/pkgserver/internal/store"
)

// SetPullRequest records the state a forge gives for a pull or merge
// request.
func (s *Store) SetPullRequest(ctx context.Context, repoID int64, pr *store.PullRequest) error {
	at := pr.UpdatedAt
	if at.IsZero() {
		at = time.Now()
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO pull_requests (repository_id, number, source_branch, target_branch, state, head_commit, merge_commit, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (repository_id, number) DO UPDATE SET source_branch = excluded.source_branch,
			target_branch = excluded.target_branch, state = excluded.state, head_commit = excluded.head_commit,
			merge_commit = excluded.merge_commit, updated_at = excluded.updated_at`),
			repoID, pr.Number, pr.SourceBranch, pr.TargetBranch, pr.State, pr.HeadCommit, pr.MergeCommit, at.UnixMilli())
		return err
	})
}

// OpenPullRequests returns a repository's open pull requests by number.
func (s *Store) OpenPullRequests(ctx context.Context, repoID int64) ([]store.PullRequest, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT number, source_branch, target_branch, state, head_commit, merge_commit, updated_at
		FROM pull_requests WHERE repository_id = ? AND state = ? ORDER BY number`), repoID, store.PullRequestOpen)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.PullRequest
	for rows.Next() {
		var pr store.PullRequest
		var at int64
		if err := rows.Scan(&pr.Number, &pr.SourceBranch, &pr.TargetBranch, &pr.State, &pr.HeadCommit, &pr.MergeCommit, &at); err != nil {
			return nil, err
		}
		pr.UpdatedAt = time.UnixMilli(at).UTC()
		out = append(out, pr)
	}
	return out, rows.Err()
}

const checkColumns = `id, namespace, repository, commit_id, name, ref, conclusion, title, summary, results, created_at,
	reported, external_id, posted, attempts, next_attempt, error`

func scanCheck(row interface{ Scan(...any) error }) (store.Check, error) {
	var c store.Check
	var created, reported, next int64
	var results string
	err := row.Scan(&c.ID, &c.Namespace, &c.Repository, &c.Commit, &c.Name, &c.Ref, &c.Conclusion, &c.Title, &c.Summary, &results, &created,
		&reported, &c.ExternalID, &c.Posted, &c.Attempts, &next, &c.Error)
	c.Results, c.CreatedAt, c.Reported = []byte(results), time.UnixMilli(created).UTC(), reported == 1
	if next > 0 {
		c.NextAttempt = time.UnixMilli(next).UTC()
	}
	return c, err
}

// AddCheck stores a check unless the commit has one of its name.
func (s *Store) AddCheck(ctx context.Context, c *store.Check) (bool, error) {
	added := false
	at := c.CreatedAt
	if at.IsZero() {
		at = time.Now()
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`INSERT INTO checks (namespace, repository, commit_id, name, ref, conclusion, title, summary, results, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (namespace, repository, commit_id, name) DO NOTHING`),
			c.Namespace, c.Repository, c.Commit, c.Name, c.Ref, c.Conclusion, c.Title, c.Summary, string(c.Results), at.UnixMilli())
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		added = n == 1
		return err
	})
	return added, err
}

// DueChecks returns the checks waiting to be posted whose time has come,
// the oldest perRepo of each repository.
func (s *Store) DueChecks(ctx context.Context, now time.Time, perRepo, limit int) ([]store.Check, error) {
	// At most perRepo of each repository: a repository with a backlog
	// does not hide the others' checks.
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+checkColumns+` FROM (SELECT `+checkColumns+`,
		ROW_NUMBER() OVER (PARTITION BY namespace, repository ORDER BY id) AS n
		FROM checks WHERE reported = 0 AND next_attempt <= ?) due WHERE n <= ? ORDER BY id LIMIT ?`),
		now.UnixMilli(), perRepo, limit)
	return scanChecks(rows, err)
}

// NextCheckAttempt returns when the next waiting check is due, zero if
// none waits.
func (s *Store) NextCheckAttempt(ctx context.Context, now time.Time) (time.Time, error) {
	var next sql.NullInt64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT MIN(next_attempt) FROM checks WHERE reported = 0 AND next_attempt > ?`), now.UnixMilli()).Scan(&next)
	if err != nil || !next.Valid {
		return time.Time{}, err
	}
	return time.UnixMilli(next.Int64).UTC(), nil
}

// UpdateCheckPosting records how far a check was posted.
func (s *Store) UpdateCheckPosting(ctx context.Context, id int64, p store.CheckPosting) error {
	var next int64
	if !p.NextAttempt.IsZero() {
		next = p.NextAttempt.UnixMilli()
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE checks SET reported = ?, external_id = ?, posted = ?, attempts = ?, next_attempt = ?, error = ? WHERE id = ?`),
			boolInt(p.Reported), p.ExternalID, p.Posted, p.Attempts, next, p.Error, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
}

// Checks returns the checks of a commit, by name.
func (s *Store) Checks(ctx context.Context, namespace, repository, commit string) ([]store.Check, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+checkColumns+` FROM checks WHERE namespace = ? AND repository = ? AND commit_id = ? ORDER BY name`),
		namespace, repository, commit)
	return scanChecks(rows, err)
}

// scanChecks reads the rows of a query of checkColumns.
func scanChecks(rows *sql.Rows, err error) ([]store.Check, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Check
	for rows.Next() {
		c, err := scanCheck(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// CompactChecks forgets checks posted (or given up) before a time.
func (s *Store) CompactChecks(ctx context.Context, before time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`DELETE FROM checks WHERE reported = 1 AND created_at < ?`), before.UnixMilli())
		return err
	})
}
