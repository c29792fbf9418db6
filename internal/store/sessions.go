package store

import (
	"context"
	"time"
)

// Session is a browser signed in to the web UI with an API token. The
// browser's cookie holds a random secret; the index keeps only its hash, as
// it does of tokens, so that a copy of the database signs no one in.
type Session struct {
	// IDHash is the SHA-256 of the cookie's secret, in hex.
	IDHash string
	// TokenHash is the hash of the API token signed in with (Token.Hash):
	// the session acts with that token's role in its namespace, and ends
	// when the token is deleted.
	TokenHash string
	CreatedAt time.Time
	// ExpiresAt is when the session ends: it is expired from then on.
	ExpiresAt time.Time
}

// Sessions are the web UI's sign-ins, kept in the index so that every
// replica sharing the database knows them: the UI creates one when a
// person signs in with a token, resolves its cookie on every request, and
// deletes it when the person signs out.
type Sessions interface {
	// CreateSession stores a session: ErrNotFound if no token has its
	// TokenHash, ErrExists if its IDHash is taken.
	CreateSession(ctx context.Context, s *Session) error
	// GetSession returns the session with a hash and the token it acts
	// with; ErrNotFound if there is none, if it is expired at now, or if
	// its token was deleted.
	GetSession(ctx context.Context, idHash string, now time.Time) (*Session, *Token, error)
	// DeleteSession ends a session (signing out), ErrNotFound if none.
	DeleteSession(ctx context.Context, idHash string) error
	// DeleteExpiredSessions removes the sessions expired at now and
	// returns how many it removed.
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error)
}
