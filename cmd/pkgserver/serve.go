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
		sshAddr  string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server: the HTTP API, the git host, and syncing registered repositories with git",
		Long: `Run the server: the HTTP API, the git host (hosted repositories over SSH
and smart HTTP) and syncing registered repositories with git.
On first start it creates an admin token valid in every namespace and writes
it to <data>/admin.token, readable by its owner only, and an SSH host key in
<data>/ssh_host_ed25519_key. SIGINT or SIGTERM stop it gracefully: no new
requests, work under way finishes, the index is closed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if err := serve(ctx, logger(slog.LevelInfo), data, httpAddr, sshAddr); err != nil {
				return &exitError{code: 1, err: err}
			}
			return nil
		},
	}
	data.add(cmd.Flags())
	cmd.Flags().StringVar(&httpAddr, "http", envOr("PKGSERVER_HTTP", "127.0.0.1:7007"), "address of the HTTP API and git's smart HTTP (PKGSERVER_HTTP)")
	cmd.Flags().StringVar(&sshAddr, "ssh", envOr("PKGSERVER_SSH", "127.0.0.1:2222"), `address of the git host's SSH server, "" for none (PKGSERVER_SSH)`)
	return cmd
}

func serve(ctx context.Context, log *slog.Logger, data dataFlags, httpAddr, sshAddr string) error {
	st, err := data.openStore(ctx)
	if err != nil {
		return err
	}
	srv, err := server.New(ctx, server.Config{DataDir: data.dir, Store: st, Log: log, Version: version})
	if err != nil {
		st.Close()
		return err
	}
	ln, err := net.Listen("tcp", httpAddr)
	if err != nil {
		st.Close()
		return err
	}
	var sshLn net.Listener
	if sshAddr != "" {
		if sshLn, err = net.Listen("tcp", sshAddr); err != nil {
			ln.Close()
			st.Close()
			return err
		}
		log.Info("serving git over ssh", "ssh", "ssh://"+sshLn.Addr().String())
	}
	log.Info("serving", "http", "http://"+ln.Addr().String(), "data", data.dir)
	err = srv.Serve(ctx, ln, sshLn)
	log.Info("stopped")
	return err
}
