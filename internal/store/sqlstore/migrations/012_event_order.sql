-- The events of one transaction are read in the order they were written
-- (dialect.eventOrder). SQLite keeps that order without a column: the
-- rowid, by which the index on (kind, resource_version) orders the events
-- of one resource version. PostgreSQL numbers them for it: {{event_seq}}
-- adds the column and its index there, and is nothing in SQLite.

{{event_seq}};
