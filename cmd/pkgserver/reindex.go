package main

import (
	"fmt"
	"log/slog"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/pkgserver/pkgserver/internal/reconcile"
	"github.com/pkgserver/pkgserver/internal/server"
	"github.com/pkgserver/pkgserver/internal/store"
)

func newReindexCmd() *cobra.Command {
	var data dataFlags
	var keys keyFlags
	cmd := &cobra.Command{
		Use:   "reindex",
		Short: "Rebuild the index of every registered repository from git",
		Long: `Rebuild the index of every registered repository from git. Each
repository is rebuilt in one transaction: interrupted, the index keeps what it
had, and running reindex again completes it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, err := data.openStore(ctx)
			if err != nil {
				return usageError("%v", err)
			}
			defer st.Close()
			k, err := keys.load(data.dir)
			if err != nil {
				return usageError("%v", err)
			}
			src, err := server.GitSource(data.dir, k, st)
			if err != nil {
				return err
			}
			rec := reconcile.New(st, src, logger(slog.LevelWarn))
			out := cmd.OutOrStdout()
			err = rec.ReindexAll(ctx, runtime.GOMAXPROCS(0), func(repo *store.Repository, res *reconcile.Result, err error) {
				name := repo.Object.Namespace + "/" + repo.Object.Name
				if err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: %v\n", name, err)
					return
				}
				fmt.Fprintf(out, "%s: %d packages, %d revisions, %d problems in %s\n", name, res.Packages, res.Revisions,
					len(res.Problems), res.Duration.Round(1e6))
			})
			if err != nil {
				return &exitError{code: 1, err: fmt.Errorf("")}
			}
			return nil
		},
	}
	data.add(cmd.Flags())
	keys.add(cmd.Flags())
	return cmd
}
