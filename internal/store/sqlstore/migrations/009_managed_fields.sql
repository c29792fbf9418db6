-- The field managers (metadata.managedFields, for server-side apply) of
-- objects whose metadata the index does not keep with them: package
-- revisions and their resources, whose labels and annotations live in their
-- Kptfiles in git. One row per object, by namespace, resource and name, with
-- the entries as JSON; dropped with the object's repository, and with the
-- revision when it is deleted: through the API, or by the index update that
-- removes it (its branch deleted in git, a reindex).

CREATE TABLE managed_fields (
  repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
  namespace     TEXT NOT NULL,
  resource      TEXT NOT NULL,
  name          TEXT NOT NULL,
  fields        TEXT NOT NULL,
  updated_at    BIGINT NOT NULL,
  PRIMARY KEY (namespace, resource, name)
);
CREATE INDEX managed_fields_repository ON managed_fields (repository_id);
