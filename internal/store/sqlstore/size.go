package sqlstore

import (
	"context"
	"errors"
	"io/fs"
	"os"
)

// Size is the index's size in bytes: a SQLite file with its write-ahead
// log, or the PostgreSQL database (pg_database_size, its indexes and
// TOAST included).
func (s *Store) Size(ctx context.Context) (int64, error) {
	if s.path == "" {
		var n int64
		err := s.db.QueryRowContext(ctx, `SELECT pg_database_size(current_database())`).Scan(&n)
		return n, err
	}
	var total int64
	for _, f := range []string{s.path, s.path + "-wal"} {
		info, err := os.Stat(f)
		if err == nil {
			total += info.Size()
		} else if !errors.Is(err, fs.ErrNotExist) {
			return 0, err
		}
	}
	return total, nil
}
