// Package hooks is pkgserver's side of git's server hooks: the push policy
// a pre-receive hook applies (the ref rules of the git contract and the
// validation of every package a push adds or changes), for the built-in
// host and for the standalone hook installed into any other git server.
// Package forward is the hook process itself when a server is running: it
// only forwards to the server, so that it starts fast.
package hooks
