-- Sessions of the web UI: a browser signed in with an API token holds a
-- random secret in its cookie, of which only the SHA-256 is kept (id_hash),
-- as of tokens. A session refers to its token by the token's hash, so that
-- deleting the token deletes its sessions; token_hash is indexed for that
-- deletion, expires_at for the removal of expired sessions. Times are Unix
-- milliseconds.

CREATE TABLE sessions (
  id_hash    TEXT PRIMARY KEY,
  token_hash TEXT NOT NULL REFERENCES tokens (hash) ON DELETE CASCADE,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_token ON sessions (token_hash);
CREATE INDEX sessions_expires ON sessions (expires_at);
