package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/pkgserver/pkgserver/internal/schema"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of pkgserver",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "pkgserver %s (Kubernetes schemas %s, %s %s/%s)\n",
				version, schema.NewBuiltin().KubernetesVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
