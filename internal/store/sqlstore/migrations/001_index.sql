-- The index: repositories, refs as last seen, package revisions, and the
-- files of package trees with their content stored once per blob.
-- {{id}}, {{blob}} and {{clustered}} are replaced by the dialect's types and
-- table options ({{clustered}}: store the rows in primary key order).

CREATE TABLE counters (
  name  TEXT PRIMARY KEY,
  value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('resource_version', 0);

CREATE TABLE repositories (
  id               {{id}},
  namespace        TEXT NOT NULL,
  name             TEXT NOT NULL,
  object           TEXT NOT NULL,
  resource_version BIGINT NOT NULL,
  created_at       BIGINT NOT NULL,
  branch_commit    TEXT NOT NULL DEFAULT '',
  refs_hash        TEXT NOT NULL DEFAULT '',
  UNIQUE (namespace, name)
);

CREATE TABLE refs (
  repository_id       BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
  name                TEXT NOT NULL,
  target              TEXT NOT NULL,
  contract            INTEGER NOT NULL,
  kind                INTEGER NOT NULL,
  package             TEXT NOT NULL,
  workspace           TEXT NOT NULL,
  revision            TEXT NOT NULL,
  number              INTEGER NOT NULL,
  commit_id           TEXT NOT NULL,
  tree_id             TEXT NOT NULL,
  problem             TEXT NOT NULL,
  published_by        TEXT NOT NULL,
  published_at        BIGINT NOT NULL,
  published_workspace TEXT NOT NULL,
  PRIMARY KEY (repository_id, name)
) {{clustered}};
CREATE INDEX refs_package ON refs (repository_id, package);

CREATE TABLE branch_packages (
  repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
  package       TEXT NOT NULL,
  commit_id     TEXT NOT NULL,
  tree_id       TEXT NOT NULL,
  problem       TEXT NOT NULL,
  published_by  TEXT NOT NULL,
  published_at  BIGINT NOT NULL,
  PRIMARY KEY (repository_id, package)
) {{clustered}};

-- Why refs and package paths are not indexed, replaced per package on
-- every update of it.
CREATE TABLE problems (
  repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
  package       TEXT NOT NULL,
  ref           TEXT NOT NULL,
  message       TEXT NOT NULL
);
CREATE INDEX problems_package ON problems (repository_id, package);

CREATE TABLE packages (
  id            {{id}},
  repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
  path          TEXT NOT NULL,
  UNIQUE (repository_id, path)
);

CREATE TABLE revisions (
  id               {{id}},
  repository_id    BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
  package_id       BIGINT NOT NULL REFERENCES packages (id) ON DELETE CASCADE,
  namespace        TEXT NOT NULL,
  repository       TEXT NOT NULL,
  name             TEXT NOT NULL,
  package          TEXT NOT NULL,
  workspace        TEXT NOT NULL,
  revision         TEXT NOT NULL,
  number           INTEGER NOT NULL,
  lifecycle        TEXT NOT NULL,
  ref              TEXT NOT NULL,
  deletion_ref     TEXT NOT NULL,
  commit_id        TEXT NOT NULL,
  tree_id          TEXT NOT NULL,
  published_by     TEXT NOT NULL,
  published_at     BIGINT NOT NULL,
  latest           INTEGER NOT NULL,
  resource_version BIGINT NOT NULL,
  UNIQUE (namespace, name)
);
CREATE INDEX revisions_package ON revisions (repository_id, package);
CREATE INDEX revisions_tree ON revisions (tree_id);

-- The files of a package tree, one line each: "<mode> <blob id> <path>".
CREATE TABLE trees (
  id    TEXT PRIMARY KEY,
  files TEXT NOT NULL
) {{clustered}};

-- File content, once per blob id; refs counts the trees listing the blob.
CREATE TABLE blobs (
  id   TEXT PRIMARY KEY,
  refs BIGINT NOT NULL,
  data {{blob}} NOT NULL
) {{clustered}};
