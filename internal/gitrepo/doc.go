// Package gitrepo reads git repositories for pkgserver: refs, trees, blobs,
// commits and tags, and keeps mirrors of remote repositories up to date.
//
// Opening repositories and fetching mirrors go through go-git, which
// authenticates in-process so that no credential reaches a command line, an
// environment or a file. Bulk reads go through the git binary — one
// `git cat-file --batch` process fed many requests at once, `for-each-ref`
// and `log` — because they are several times faster than reading object by
// object (see docs/index.md). Every git subprocess gets a clean environment
// and an explicit repository; nothing of the caller's environment reaches it.
// The one exception is explicit: a Repo made by WithQuarantine passes a
// pre-receive hook's quarantine variables, checked to stay inside the
// repository, to every subprocess, so that a hook reads the objects of a
// push not yet accepted.
//
// TreeFS presents a tree as an io/fs file system, read lazily through a
// Batch, so that packages are validated straight from git without a
// checkout.
package gitrepo
