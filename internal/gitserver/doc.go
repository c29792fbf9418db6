// Package gitserver hosts git repositories: bare repositories kept in the
// data directory for Repositories with provider hosted, served over SSH
// (gliderlabs/ssh) and smart HTTP (git http-backend), with the system git
// speaking the pack protocol. Every push runs pkgserver's pre-receive and
// post-receive hooks, which reach back to the server with a token that is
// valid for that push only.
package gitserver
