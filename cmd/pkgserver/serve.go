package main

import (
	"context"
	"log/slog"
	"net"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/pkgserver/pkgserver/internal/server"
)

// adminTokenFile is where serve writes the first admin token.
const adminTokenFile = server.AdminTokenFile

func newServeCmd() *cobra.Command {
	var (
		data     dataFlags
		httpAddr string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server: the HTTP API, and syncing registered repositories with git",
		Long: `Run the server: the HTTP API, and syncing registered repositories with git.
On first start it creates an admin token valid in every namespace and writes
it to <data>/admin.token, readable by its owner only. SIGINT or SIGTERM stop
it gracefully: no new requests, work under way finishes, the index is closed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if err := serve(ctx, logger(slog.LevelInfo), data, httpAddr); err != nil {
				return &exitError{code: 1, err: err}
			}
			return nil
		},
	}
	data.add(cmd.Flags())
	cmd.Flags().StringVar(&httpAddr, "http", envOr("PKGSERVER_HTTP", "127.0.0.1:7007"), "address of the HTTP API (PKGSERVER_HTTP)")
	return cmd
}

func serve(ctx context.Context, log *slog.Logger, data dataFlags, httpAddr string) error {
	st, err := data.openStore(ctx)
	if err != nil {
		return err
	}
	srv, err := server.New(ctx, server.Config{DataDir: data.dir, Store: st, Log: log})
	if err != nil {
		st.Close()
		return err
	}
	ln, err := net.Listen("tcp", httpAddr)
	if err != nil {
		st.Close()
		return err
	}
	log.Info("serving", "http", "http://"+ln.Addr().String(), "data", data.dir)
	err = srv.Serve(ctx, ln)
	log.Info("stopped")
	return err
}
