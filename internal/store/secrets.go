package store

import (
	"context"
	"time"
)

// SecretRef names a stored secret.
type SecretRef struct {
	Namespace, Name string
	UpdatedAt       time.Time
}

// Secrets are credentials, sealed by the caller before they are stored:
// those of remote repositories and forges, and webhook secrets.
type Secrets interface {
	// PutSecret stores sealed credentials; GetSecret returns them.
	PutSecret(ctx context.Context, namespace, name string, sealed []byte) error
	GetSecret(ctx context.Context, namespace, name string) ([]byte, error)
	DeleteSecret(ctx context.Context, namespace, name string) error
	ListSecrets(ctx context.Context) ([]SecretRef, error)
}
