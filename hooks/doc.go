// Package hooks is pkgserver's side of git's server hooks: what a
// pre-receive hook decides on a push, for the built-in host and for the
// standalone hook installed into any other git server. It applies the ref
// rules of the git contract (the repository branch, workspaces, published
// tags, deletion proposals, refs the index would not make revisions of)
// and has package pkgcheck validate every package the push adds or
// changes. Package forward is the hook process itself when a server is
// running: it only forwards to the server, so that it starts fast.
package hooks
