// Package pkgcheck validates the packages a commit touches with the
// repository's own policies (the tree at .pkgserver/policies on its
// branch) on top of the server's, with engines cached by the policies'
// tree. A push decision (package hooks) queues the packages its refs add
// or change and validates them here; lifecycle writes and webhooks validate
// packages at a commit with no push involved. Which packages a change
// touches is observe's rule, read here as a push check reads it.
package pkgcheck
