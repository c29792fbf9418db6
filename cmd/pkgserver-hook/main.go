// Command pkgserver-hook is the pre-receive and post-receive hook of
// pkgserver's hosted repositories: it forwards the push to the running
// server and prints its answer. It is a small binary of its own because git
// starts it on every push; `pkgserver hook` does the same, and also runs
// without a server.
package main

import (
	"fmt"
	"os"

	"github.com/pkgserver/pkgserver/hooks/forward"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: pkgserver-hook pre-receive|post-receive")
		os.Exit(2)
	}
	os.Exit(forward.Run(os.Args[1], os.Stdin, os.Stderr, os.Getenv))
}
