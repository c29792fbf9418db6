package sqlstore

import (
	"strconv"
	"strings"
)

// dialect holds what differs between SQL databases; the queries are
// otherwise the same, written with ? placeholders.
type dialect struct {
	name string
	// types replaces {{id}}, {{blob}} and {{clustered}} in migrations.
	types map[string]string
	// numbered placeholders ($1, $2...) rather than ?.
	numbered bool
}

var sqliteDialect = dialect{
	name:  "sqlite",
	types: map[string]string{"{{id}}": "INTEGER PRIMARY KEY", "{{blob}}": "BLOB", "{{clustered}}": "WITHOUT ROWID"},
}

// q adapts a query to the dialect's placeholders.
func (d dialect) q(query string) string {
	if !d.numbered {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (d dialect) ddl(s string) string {
	for k, v := range d.types {
		s = strings.ReplaceAll(s, k, v)
	}
	return s
}

// placeholders returns "?, ?, ?" for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
