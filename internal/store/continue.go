package store

import (
	"encoding/base64"
	"strings"
)

// ContinueToken encodes the position after an object in the stable order
// of lists (namespace, name): the continue token of a page that ends there.
func ContinueToken(namespace, name string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(namespace + "\x00" + name))
}

// ParseContinue reads a token of ContinueToken; ErrInvalidContinue for
// anything else.
func ParseContinue(tok string) (namespace, name string, err error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return "", "", ErrInvalidContinue
	}
	namespace, name, ok := strings.Cut(string(b), "\x00")
	if !ok {
		return "", "", ErrInvalidContinue
	}
	return namespace, name, nil
}
