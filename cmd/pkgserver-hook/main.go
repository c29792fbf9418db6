// Command pkgserver-hook is the pre-receive and post-receive hook of
// pkgserver's hosted repositories: it forwards the push to the running
// server and prints its answer. It is a small binary of its own because git
// starts it on every push; `pkgserver hook` does the same, and also runs
// without a server.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/pkgserver/pkgserver/hooks/forward"
)

func main() {
	// Installed as a repository's hooks/pre-receive and hooks/post-receive
	// (symbolic links, so that git starts no shell), it is told which hook
	// it is by its name.
	hook := filepath.Base(os.Args[0])
	switch len(os.Args) {
	case 1:
	case 2:
		hook = os.Args[1]
	default:
		fmt.Fprintln(os.Stderr, "usage: pkgserver-hook pre-receive|post-receive")
		os.Exit(2)
	}
	os.Exit(forward.Run(hook, os.Stdin, os.Stderr, os.Getenv))
}
