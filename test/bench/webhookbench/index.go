package main

import (
	"database/sql"

	_ "modernc.org/sqlite"
)

// openIndex opens the server's SQLite index for reading only; in WAL mode
// it can be read while the server writes.
func openIndex(path string) (*sql.DB, error) {
	return sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
}
