package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/pkgserver/pkgserver/internal/api"
	"github.com/pkgserver/pkgserver/internal/auth"
	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/reconcile"
	"github.com/pkgserver/pkgserver/internal/store"
	"github.com/pkgserver/pkgserver/internal/store/sqlstore"
)

// adminTokenFile is where serve writes the first admin token.
const adminTokenFile = "admin.token"

func newServeCmd() *cobra.Command {
	var (
		data     dataFlags
		httpAddr string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server: the HTTP API, and syncing registered repositories with git",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			log := logger(slog.LevelInfo)
			if err := serve(ctx, log, data, httpAddr); err != nil {
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
	defer st.Close()
	if err := bootstrapAdminToken(ctx, st, data.dir, log); err != nil {
		return err
	}
	keys, err := auth.LoadKeyring(data.dir)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registerIndexMetrics(reg, st, data.dir)

	src := &reconcile.GitSource{MirrorDir: data.mirrorDir(), Credentials: credentialsFrom(st, keys)}
	rec := reconcile.New(st, src, log)
	sched := reconcile.NewScheduler(rec, st, src, log, reconcile.NewMetrics(reg), 2*runtime.GOMAXPROCS(0))
	srv := api.New(api.Config{
		Store: st, Auth: auth.NewAuthenticator(st), Syncer: sched, Log: log, Registry: reg,
		Ready: st.Ping,
	})
	ln, err := net.Listen("tcp", httpAddr)
	if err != nil {
		return err
	}
	log.Info("serving", "http", "http://"+ln.Addr().String(), "data", data.dir)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Serve(gctx, ln, 30*time.Second) })
	g.Go(func() error { return sched.Run(gctx) })
	g.Go(func() error {
		// Watches resume from the last hour of changes.
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-gctx.Done():
				return nil
			case <-t.C:
				if err := st.CompactEvents(gctx, time.Now().Add(-time.Hour)); err != nil && gctx.Err() == nil {
					log.Error("compact events", "err", err)
				}
			}
		}
	})
	err = g.Wait()
	log.Info("stopped")
	return err
}

// bootstrapAdminToken creates an admin token of every namespace when there
// is no token at all, and writes it to the data directory, readable by its
// owner only.
func bootstrapAdminToken(ctx context.Context, st store.Store, dir string, log *slog.Logger) error {
	tokens, err := st.ListTokens(ctx)
	if err != nil || len(tokens) > 0 {
		return err
	}
	tok, hash, err := auth.NewToken()
	if err != nil {
		return err
	}
	path := filepath.Join(dir, adminTokenFile)
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return err
	}
	if err := st.CreateToken(ctx, &store.Token{Name: "admin", Hash: hash, Namespace: store.AllNamespaces,
		Role: store.RoleAdmin, CreatedAt: time.Now().UTC()}); err != nil {
		return err
	}
	log.Info("created the admin token", "file", path)
	return nil
}

// credentialsFrom opens the secrets repositories name.
func credentialsFrom(st store.Store, keys *auth.Keyring) reconcile.CredentialsFunc {
	return func(ctx context.Context, namespace, name string) (*gitrepo.Credentials, error) {
		sealed, err := st.GetSecret(ctx, namespace, name)
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("credentials %q: no such secret in namespace %s (pkgserver secret set)", name, namespace)
		}
		if err != nil {
			return nil, err
		}
		return keys.Open(namespace, name, sealed)
	}
}

// registerIndexMetrics exports the size of the index.
func registerIndexMetrics(reg *prometheus.Registry, st *sqlstore.Store, dir string) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "pkgserver_index_revisions",
		Help: "Package revisions in the index.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n, err := st.CountRevisions(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "pkgserver_index_bytes",
		Help: "Size of the SQLite index on disk, its write-ahead log included.",
	}, func() float64 {
		var total int64
		for _, f := range []string{"index.db", "index.db-wal"} {
			if info, err := os.Stat(filepath.Join(dir, f)); err == nil {
				total += info.Size()
			} else if !errors.Is(err, fs.ErrNotExist) {
				return -1
			}
		}
		return float64(total)
	}))
}
