package sqlstore

import (
	"context"
	"database/sql"
	"strings"
)

// bulkRows is how many rows one INSERT statement carries: far fewer
// statements to parse and run, within every database's parameter limit.
const bulkRows = 100

// bulkInsert inserts rows many at a time with one prepared statement per
// batch size.
type bulkInsert struct {
	ctx    context.Context
	tx     *sql.Tx
	s      *Store
	head   string // INSERT INTO t (a, b) VALUES
	tail   string // ON CONFLICT ...
	row    string // (?, ?)
	cols   int
	values []any
	full   *sql.Stmt
}

func (s *Store) newBulkInsert(ctx context.Context, tx *sql.Tx, head string, cols int, tail string) *bulkInsert {
	return &bulkInsert{ctx: ctx, tx: tx, s: s, head: head, tail: tail, cols: cols, row: "(" + placeholders(cols) + ")"}
}

func (b *bulkInsert) query(rows int) string {
	var q strings.Builder
	q.WriteString(b.head)
	q.WriteString(" VALUES ")
	for i := range rows {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(b.row)
	}
	q.WriteString(" ")
	q.WriteString(b.tail)
	return b.s.q(q.String())
}

// add queues one row, writing a batch when it is full.
func (b *bulkInsert) add(values ...any) error {
	b.values = append(b.values, values...)
	if len(b.values) < bulkRows*b.cols {
		return nil
	}
	if b.full == nil {
		stmt, err := b.tx.PrepareContext(b.ctx, b.query(bulkRows))
		if err != nil {
			return err
		}
		b.full = stmt
	}
	_, err := b.full.ExecContext(b.ctx, b.values...)
	b.values = b.values[:0]
	return err
}

// flush writes the queued rows and releases the statement.
func (b *bulkInsert) flush() error {
	defer func() {
		if b.full != nil {
			b.full.Close()
			b.full = nil
		}
	}()
	if len(b.values) == 0 {
		return nil
	}
	_, err := b.tx.ExecContext(b.ctx, b.query(len(b.values)/b.cols), b.values...)
	b.values = b.values[:0]
	return err
}

// insertReturning inserts rows many at a time and returns the first column
// of the rows the statement reports (its RETURNING clause).
func (s *Store) insertReturning(ctx context.Context, tx *sql.Tx, head string, cols int, tail string, rows [][]any) ([]string, error) {
	b := s.newBulkInsert(ctx, tx, head, cols, tail)
	var out []string
	for start := 0; start < len(rows); start += bulkRows {
		end := min(start+bulkRows, len(rows))
		var values []any
		for _, r := range rows[start:end] {
			values = append(values, r...)
		}
		res, err := tx.QueryContext(ctx, b.query(end-start), values...)
		if err != nil {
			return nil, err
		}
		for res.Next() {
			var v string
			if err := res.Scan(&v); err != nil {
				res.Close()
				return nil, err
			}
			out = append(out, v)
		}
		res.Close()
		if err := res.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
