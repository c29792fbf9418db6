package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/pkgserver/pkgserver/internal/store"
)

// CreateSession stores a session if its token exists. The token is looked
// for by the insert itself; a token deleted while the insert runs is
// caught by the foreign key (PostgreSQL), and reported alike.
func (s *Store) CreateSession(ctx context.Context, sess *store.Session) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`INSERT INTO sessions (id_hash, token_hash, created_at, expires_at)
			SELECT CAST(? AS TEXT), hash, CAST(? AS BIGINT), CAST(? AS BIGINT) FROM tokens WHERE hash = ?`),
			sess.IDHash, sess.CreatedAt.UnixMilli(), sess.ExpiresAt.UnixMilli(), sess.TokenHash)
		switch {
		case err != nil && isUniqueViolation(err):
			return fmt.Errorf("session: %w", store.ErrExists)
		case err != nil && isForeignKeyViolation(err):
			return fmt.Errorf("session's token: %w", store.ErrNotFound)
		case err != nil:
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("session's token: %w", store.ErrNotFound)
		}
		return nil
	})
}

// GetSession reads a session and its token in one query: a session whose
// token is gone is not found, even where a connection did not enforce the
// foreign key that deletes it with the token.
func (s *Store) GetSession(ctx context.Context, idHash string, now time.Time) (*store.Session, *store.Token, error) {
	st, err := s.stmt(ctx, `SELECT s.created_at, s.expires_at, t.name, t.hash, t.namespace, t.role, t.created_at
		FROM sessions s JOIN tokens t ON t.hash = s.token_hash WHERE s.id_hash = ? AND s.expires_at > ?`)
	if err != nil {
		return nil, nil, err
	}
	var created, expires int64
	row := st.QueryRowContext(ctx, idHash, now.UnixMilli())
	t, err := scanToken(scanFunc(func(dest ...any) error {
		return row.Scan(append([]any{&created, &expires}, dest...)...)
	}))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, fmt.Errorf("session: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, nil, err
	}
	sess := &store.Session{IDHash: idHash, TokenHash: t.Hash,
		CreatedAt: time.UnixMilli(created).UTC(), ExpiresAt: time.UnixMilli(expires).UTC()}
	return sess, &t, nil
}

// DeleteSession ends a session.
func (s *Store) DeleteSession(ctx context.Context, idHash string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM sessions WHERE id_hash = ?`), idHash)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("session: %w", store.ErrNotFound)
		}
		return nil
	})
}

// DeleteExpiredSessions removes the sessions expired at now.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM sessions WHERE expires_at <= ?`), now.UnixMilli())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// scanFunc is a row's Scan adapted, for a scan of the columns that follow
// those of its own (scanToken's after a session's).
type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }
