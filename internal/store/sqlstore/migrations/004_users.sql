-- Users of the built-in git host's SSH server, each with one role in one
-- namespace (or in all, '*') as tokens have, and their public keys. A key
-- identifies exactly one user: its fingerprint is the key of user_keys.

CREATE TABLE users (
  name       TEXT PRIMARY KEY,
  namespace  TEXT NOT NULL,
  role       TEXT NOT NULL,
  created_at BIGINT NOT NULL
);

CREATE TABLE user_keys (
  fingerprint    TEXT PRIMARY KEY,
  user_name      TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
  authorized_key TEXT NOT NULL,
  comment        TEXT NOT NULL
);
CREATE INDEX user_keys_user ON user_keys (user_name, fingerprint);
