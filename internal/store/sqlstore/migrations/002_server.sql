-- What the server keeps of its own: API tokens (hashes only), encrypted
-- credentials for git, and the log of changes that watches resume from.

CREATE TABLE tokens (
  name       TEXT PRIMARY KEY,
  hash       TEXT NOT NULL UNIQUE,
  namespace  TEXT NOT NULL,
  role       TEXT NOT NULL,
  created_at BIGINT NOT NULL
);

CREATE TABLE secrets (
  namespace  TEXT NOT NULL,
  name       TEXT NOT NULL,
  sealed     {{blob}} NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (namespace, name)
);

-- One row per change of a revision or repository; object is its state at
-- that resource version (its last state for a deletion).
CREATE TABLE events (
  resource_version BIGINT NOT NULL,
  kind             TEXT NOT NULL,
  namespace        TEXT NOT NULL,
  name             TEXT NOT NULL,
  type             TEXT NOT NULL,
  object           TEXT NOT NULL,
  created_at       BIGINT NOT NULL
);
CREATE INDEX events_rv ON events (resource_version);

-- Events at or below this resource version are gone: a watch from before
-- it must list again.
INSERT INTO counters (name, value) VALUES ('events_compacted', 0);
