-- Webhook deliveries from GitHub and GitLab: stored before they are
-- acknowledged, processed afterwards, each once. A delivery's id is the
-- forge's (X-GitHub-Delivery, X-Gitlab-Webhook-UUID or -Event-UUID,
-- Idempotency-Key), unique per repository: a redelivery finds its row and
-- is not stored again.

CREATE TABLE deliveries (
  id           {{id}},
  forge        TEXT NOT NULL,
  delivery_id  TEXT NOT NULL,
  namespace    TEXT NOT NULL,
  repository   TEXT NOT NULL,
  event        TEXT NOT NULL,
  payload      {{blob}} NOT NULL,
  received_at  BIGINT NOT NULL,
  done         BIGINT NOT NULL DEFAULT 0,
  attempts     BIGINT NOT NULL DEFAULT 0,
  error        TEXT NOT NULL DEFAULT '',
  processed_at BIGINT NOT NULL DEFAULT 0,
  UNIQUE (forge, namespace, repository, delivery_id)
);
CREATE INDEX deliveries_pending ON deliveries (done, id);
CREATE INDEX deliveries_processed ON deliveries (done, processed_at);
