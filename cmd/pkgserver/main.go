// Command pkgserver is the git-native package server for KRM packages. This
// file only wires: flags in, constructors called, exit codes out.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// exitError ends the program with a status other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

// usageError is a problem with the command line or its inputs: status 2.
func usageError(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "pkgserver",
		Short:         "A git-native package server for KRM packages",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newVersionCmd(), newValidateCmd(), newHookCmd(), newRevisionsCmd(), newReindexCmd(),
		newServeCmd(), newTokenCmd(), newUserCmd(), newSecretCmd(), newRepoCmd(), newRpkgCmd(), newKubeconfigCmd(), newFnCmd(), newMigrateCmd())
	return root
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	root := newRoot()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(os.Stderr, "pkgserver:", ee.err)
		}
		return ee.code
	}
	// Cobra's own errors are about the command line.
	fmt.Fprintln(os.Stderr, "pkgserver:", err)
	return 2
}
