package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/pkgserver/pkgserver/internal/store"
)

// CreateUser stores a user and its keys in one transaction: a name or key
// already taken leaves nothing of the user behind.
func (s *Store) CreateUser(ctx context.Context, u *store.User) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO users (name, namespace, role, created_at) VALUES (?, ?, ?, ?)`),
			u.Name, u.Namespace, string(u.Role), u.CreatedAt.Unix())
		if err != nil {
			if isUniqueViolation(err) {
				return fmt.Errorf("user %q: %w", u.Name, store.ErrExists)
			}
			return err
		}
		for _, k := range u.Keys {
			_, err := tx.ExecContext(ctx, s.q(`INSERT INTO user_keys (fingerprint, user_name, authorized_key, comment) VALUES (?, ?, ?, ?)`),
				k.Fingerprint, u.Name, k.AuthorizedKey, k.Comment)
			if err != nil {
				if isUniqueViolation(err) {
					return fmt.Errorf("ssh key %s: %w", k.Fingerprint, store.ErrExists)
				}
				return err
			}
		}
		return nil
	})
}

// userColumns select a user and one of its keys (NULL for a user without
// keys), ordered so that rows of a user are adjacent.
const userColumns = `u.name, u.namespace, u.role, u.created_at, k.fingerprint, k.authorized_key, k.comment`

// scanUsers gathers the rows of userColumns into users.
func scanUsers(rows *sql.Rows) ([]store.User, error) {
	defer rows.Close()
	var out []store.User
	for rows.Next() {
		var u store.User
		var role string
		var at int64
		var fp, key, comment sql.NullString
		if err := rows.Scan(&u.Name, &u.Namespace, &role, &at, &fp, &key, &comment); err != nil {
			return nil, err
		}
		if n := len(out); n == 0 || out[n-1].Name != u.Name {
			u.Role, u.CreatedAt = store.Role(role), time.Unix(at, 0).UTC()
			out = append(out, u)
		}
		if fp.Valid {
			last := &out[len(out)-1]
			last.Keys = append(last.Keys, store.SSHKey{Fingerprint: fp.String, AuthorizedKey: key.String, Comment: comment.String})
		}
	}
	return out, rows.Err()
}

// ListUsers lists the users by name, their keys by fingerprint.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+userColumns+` FROM users u
		LEFT JOIN user_keys k ON k.user_name = u.name ORDER BY u.name, k.fingerprint`))
	if err != nil {
		return nil, err
	}
	return scanUsers(rows)
}

// DeleteUser removes a user and its keys.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		// Explicitly, not only by the foreign key's cascade: the keys must
		// go even on a connection that does not enforce foreign keys.
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM user_keys WHERE user_name = ?`), name); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM users WHERE name = ?`), name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("user %q: %w", name, store.ErrNotFound)
		}
		return nil
	})
}

// UserByKey finds the user holding a key, with all its keys.
func (s *Store) UserByKey(ctx context.Context, fingerprint string) (*store.User, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+userColumns+` FROM user_keys f
		JOIN users u ON u.name = f.user_name
		JOIN user_keys k ON k.user_name = u.name
		WHERE f.fingerprint = ? ORDER BY k.fingerprint`), fingerprint)
	if err != nil {
		return nil, err
	}
	users, err := scanUsers(rows)
	if err != nil {
		return nil, err
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("ssh key %s: %w", fingerprint, store.ErrNotFound)
	}
	return &users[0], nil
}
