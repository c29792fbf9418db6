-- What GitHub and GitLab repositories add to git: the pull/merge requests
-- pkgserver learned of (an open one into the repository branch makes its
-- draft Proposed), the number of the request a published revision was
-- merged from, and the validation reports of pushed commits with how far
-- they were posted back to the forge.

ALTER TABLE refs ADD COLUMN pull_request BIGINT NOT NULL DEFAULT 0;
ALTER TABLE revisions ADD COLUMN pull_request BIGINT NOT NULL DEFAULT 0;

CREATE TABLE pull_requests (
  repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
  number        BIGINT NOT NULL,
  source_branch TEXT NOT NULL,
  target_branch TEXT NOT NULL,
  state         TEXT NOT NULL,
  head_commit   TEXT NOT NULL,
  merge_commit  TEXT NOT NULL,
  updated_at    BIGINT NOT NULL,
  PRIMARY KEY (repository_id, number)
);
CREATE INDEX pull_requests_state ON pull_requests (repository_id, state);

CREATE TABLE checks (
  id           {{id}},
  namespace    TEXT NOT NULL,
  repository   TEXT NOT NULL,
  commit_id    TEXT NOT NULL,
  name         TEXT NOT NULL,
  ref          TEXT NOT NULL,
  conclusion   TEXT NOT NULL,
  title        TEXT NOT NULL,
  summary      TEXT NOT NULL,
  results      TEXT NOT NULL,
  created_at   BIGINT NOT NULL,
  reported     BIGINT NOT NULL DEFAULT 0,
  external_id  TEXT NOT NULL DEFAULT '',
  posted       BIGINT NOT NULL DEFAULT 0,
  attempts     BIGINT NOT NULL DEFAULT 0,
  next_attempt BIGINT NOT NULL DEFAULT 0,
  error        TEXT NOT NULL DEFAULT '',
  UNIQUE (namespace, repository, commit_id, name)
);
CREATE INDEX checks_due ON checks (reported, next_attempt);
