// Package auth holds pkgserver's access control and secrets: API tokens
// (random, kept only as SHA-256 hashes, each with one role in one namespace
// or in all), the check of a request's role, and the keyring that seals git
// credentials at rest with AES-256-GCM under a key kept in the data
// directory.
package auth
