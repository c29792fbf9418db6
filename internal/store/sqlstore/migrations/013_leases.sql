-- Leases of replicas sharing one database (docs/scale-out.md, Replicas):
-- the replica that processes a webhook delivery, posts a check or syncs a
-- repository holds it for a while (its owner id and the Unix milliseconds
-- its lease ends); a lease whose replica died expires, and another takes
-- the work over. When a repository is next polled, and when its pull
-- requests are next read again from its forge, are kept here too, so that
-- several replicas do either as often as one does.

ALTER TABLE deliveries ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0;
CREATE INDEX deliveries_repository_leases ON deliveries (namespace, repository, done, lease_until);

ALTER TABLE checks ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';

CREATE TABLE repository_syncs (
  repository_id BIGINT PRIMARY KEY REFERENCES repositories (id) ON DELETE CASCADE,
  lease_owner   TEXT NOT NULL DEFAULT '',
  lease_until   BIGINT NOT NULL DEFAULT 0,
  next_poll     BIGINT NOT NULL DEFAULT 0,
  polls         BIGINT NOT NULL DEFAULT 0,
  next_refresh  BIGINT NOT NULL DEFAULT 0
);
