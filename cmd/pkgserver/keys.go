package main

import (
	"github.com/spf13/pflag"

	"github.com/pkgserver/pkgserver/internal/auth"
)

// keyFlags locate the key that seals credentials and webhook secrets:
// --keyring-file or PKGSERVER_KEYRING_FILE, else the data directory's
// secret.key, made on first use. Replicas sharing one index must share
// the key too: each is given the same file, which must exist.
type keyFlags struct{ file string }

func (k *keyFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&k.file, "keyring-file", envOr("PKGSERVER_KEYRING_FILE", ""),
		"the 32-byte key sealing credentials and webhook secrets, shared by replicas of one database (head -c 32 /dev/urandom); default <data>/secret.key, made on first use (PKGSERVER_KEYRING_FILE)")
}

// load reads the key.
func (k *keyFlags) load(dataDir string) (*auth.Keyring, error) {
	if k.file != "" {
		return auth.LoadKeyringFile(k.file)
	}
	return auth.LoadKeyring(dataDir)
}
