package store

import (
	"context"
	"time"
)

// Role is what an API token or a user may do in its namespace:
// read < write < admin.
type Role string

// The roles.
const (
	RoleRead  Role = "read"
	RoleWrite Role = "write"
	RoleAdmin Role = "admin"
)

// AllNamespaces is the namespace of a token or user valid in every
// namespace.
const AllNamespaces = "*"

// Token is an API token, of which only a hash is kept.
type Token struct {
	Name string
	// Hash is the SHA-256 of the token, in hex.
	Hash      string
	Namespace string
	Role      Role
	CreatedAt time.Time
}

// User is a person or machine that reaches the git host over SSH with one
// or more public keys, with a role in a namespace (AllNamespaces for every
// namespace), as tokens have.
type User struct {
	Name      string
	Namespace string
	Role      Role
	Keys      []SSHKey
	CreatedAt time.Time
}

// SSHKey is a user's public key.
type SSHKey struct {
	// Fingerprint is ssh.FingerprintSHA256 of the key ("SHA256:...").
	Fingerprint string
	// AuthorizedKey is the key in authorized_keys format, without comment.
	AuthorizedKey string
	Comment       string
}

// Tokens are the API tokens, of which only hashes are kept: the admin
// commands manage them, the API's authenticator resolves them.
type Tokens interface {
	CreateToken(ctx context.Context, t *Token) error
	ListTokens(ctx context.Context) ([]Token, error)
	DeleteToken(ctx context.Context, name string) error
	// TokenByHash returns the token with a hash, ErrNotFound if none.
	TokenByHash(ctx context.Context, hash string) (*Token, error)
}

// Users are the users of the git host over SSH, with their keys: the
// admin commands manage them, the SSH authenticator resolves keys to them.
type Users interface {
	// CreateUser stores a user with its keys: ErrExists when the name is
	// taken or any of the keys is already a user's (a key identifies
	// exactly one user), and then nothing is stored.
	CreateUser(ctx context.Context, u *User) error
	// ListUsers lists the users by name, each with its keys by fingerprint.
	ListUsers(ctx context.Context) ([]User, error)
	// DeleteUser removes a user and its keys, ErrNotFound if none.
	DeleteUser(ctx context.Context, name string) error
	// UserByKey returns the user holding the key of a fingerprint, with all
	// its keys; ErrNotFound if none.
	UserByKey(ctx context.Context, fingerprint string) (*User, error)
}

// Auth is who may use the server: API tokens and SSH users.
type Auth interface {
	Tokens
	Users
}
