-- What a revision's Kptfile says about it, kept with its package tree:
-- labels, annotations, readiness gates and conditions as JSON (meta; NULL
-- for trees indexed before this migration, until they are read again), the
-- labels once more as rows for label selectors; and the outcome of the last
-- validation pkgserver ran of a package tree in a repository (its API
-- writes, the hosted git's pre-receive hook, webhook checks). Revisions
-- carry copies of both (their tree's meta, the counts of its validation),
-- so that reading them joins nothing.

ALTER TABLE trees ADD COLUMN meta TEXT;
-- The trees still to fill: found at every start without reading the others.
CREATE INDEX trees_without_meta ON trees (id) WHERE meta IS NULL;
ALTER TABLE revisions ADD COLUMN meta TEXT NOT NULL DEFAULT '';
ALTER TABLE revisions ADD COLUMN validation_errors INTEGER NOT NULL DEFAULT 0;
ALTER TABLE revisions ADD COLUMN validation_warnings INTEGER NOT NULL DEFAULT 0;
ALTER TABLE revisions ADD COLUMN validated_at BIGINT NOT NULL DEFAULT 0;

CREATE TABLE tree_labels (
  tree_id TEXT NOT NULL,
  key     TEXT NOT NULL,
  value   TEXT NOT NULL,
  PRIMARY KEY (tree_id, key)
) {{clustered}};
CREATE INDEX tree_labels_key ON tree_labels (key, value);

CREATE TABLE validations (
  repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
  tree_id       TEXT NOT NULL,
  errors        INTEGER NOT NULL,
  warnings      INTEGER NOT NULL,
  results       TEXT NOT NULL,
  validated_at  BIGINT NOT NULL,
  PRIMARY KEY (repository_id, tree_id)
);
CREATE INDEX validations_tree ON validations (tree_id);
