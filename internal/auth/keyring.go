package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
)

// KeyFile is the name of the key file in the data directory.
const KeyFile = "secret.key"

// Keyring seals and opens credentials.
type Keyring struct {
	aead cipher.AEAD
}

// LoadKeyring reads the data directory's key, creating it (mode 0600) on
// first use.
func LoadKeyring(dataDir string) (*Keyring, error) {
	path := filepath.Join(dataDir, KeyFile)
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return LoadKeyring(dataDir) // created meanwhile by another process
		}
		if err != nil {
			return nil, err
		}
		_, werr := f.Write(key)
		if err := errors.Join(werr, f.Close()); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	return newKeyring(path, key)
}

// LoadKeyringFile reads the key at path, which must exist: the key several
// replicas share, given to each of them (from a Kubernetes Secret, say),
// is never made up by one of them. Make one with
// `head -c 32 /dev/urandom > secret.key`.
func LoadKeyringFile(path string) (*Keyring, error) {
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	return newKeyring(path, key)
}

func newKeyring(path string, key []byte) (*Keyring, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("%s: want a 32-byte key, not %d bytes", path, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Keyring{aead: aead}, nil
}

// sealedCredentials is the JSON form of credentials inside the seal.
type sealedCredentials struct {
	Token      string `json:"token,omitempty"`
	Username   string `json:"username,omitempty"`
	Password   string `json:"password,omitempty"`
	SSHKey     []byte `json:"sshKey,omitempty"`
	KnownHosts []byte `json:"knownHosts,omitempty"`
}

// Seal encrypts credentials, bound to their namespace and name: a sealed
// secret copied under another name does not open.
func (k *Keyring) Seal(namespace, name string, c gitrepo.Credentials) ([]byte, error) {
	plain, err := json.Marshal(sealedCredentials(c))
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return k.aead.Seal(nonce, nonce, plain, []byte(namespace+"/"+name)), nil
}

// Open decrypts credentials sealed for a namespace and name.
func (k *Keyring) Open(namespace, name string, sealed []byte) (*gitrepo.Credentials, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("sealed secret is too short")
	}
	plain, err := k.aead.Open(nil, sealed[:n], sealed[n:], []byte(namespace+"/"+name))
	if err != nil {
		return nil, fmt.Errorf("secret %s/%s cannot be opened with this data directory's key", namespace, name)
	}
	var c sealedCredentials
	if err := json.Unmarshal(plain, &c); err != nil {
		return nil, err
	}
	creds := gitrepo.Credentials(c)
	return &creds, nil
}
