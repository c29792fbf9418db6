// Package certs makes the certificates a server serves TLS with when it is
// asked to make its own: a self-signed certificate authority and a serving
// certificate it signs, kept as PEM files in one directory, reused on later
// starts and issued again when the names to serve change or expiry nears.
// Keys are ECDSA P-256, which Go's TLS stack (kubectl, client-go) and
// OpenSSL (git through libcurl) both accept.
package certs
