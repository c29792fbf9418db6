// Package server assembles pkgserver's service from its parts: the index,
// tokens, sealed credentials, the sync scheduler, the HTTP API and metrics.
// `pkgserver serve` runs it; tests run the same assembly on a random port.
package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/pkgserver/pkgserver/internal/api"
	"github.com/pkgserver/pkgserver/internal/auth"
	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/reconcile"
	"github.com/pkgserver/pkgserver/internal/store"
	"github.com/pkgserver/pkgserver/internal/store/sqlstore"
)

// AdminTokenFile is where the first admin token is written, in the data
// directory.
const AdminTokenFile = "admin.token"

// Config is what a server is built from.
type Config struct {
	// DataDir holds the index (unless Store is given), the mirrors of
	// remote repositories, the key credentials are sealed with and the
	// first admin token.
	DataDir string
	// Store is the index; the server closes it.
	Store *sqlstore.Store
	Log   *slog.Logger
	// ShutdownTimeout bounds how long requests under way may take to
	// finish once shutdown begins (default 30 s).
	ShutdownTimeout time.Duration
	// EventRetention is how far back watches can resume (default 1 h).
	EventRetention time.Duration
}

// Server is pkgserver's service.
type Server struct {
	cfg   Config
	store *sqlstore.Store
	sched *reconcile.Scheduler
	api   *api.Server
	// AdminToken is the token created at first start, "" otherwise.
	AdminToken string
}

// New assembles a server. On first start (no token at all) it creates an
// admin token valid in every namespace and writes it to the data directory,
// readable by its owner only.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 30 * time.Second
	}
	if cfg.EventRetention == 0 {
		cfg.EventRetention = time.Hour
	}
	st, log := cfg.Store, cfg.Log
	tok, err := bootstrapAdminToken(ctx, st, cfg.DataDir, log)
	if err != nil {
		return nil, err
	}
	keys, err := auth.LoadKeyring(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registerIndexMetrics(reg, st)

	src := &reconcile.GitSource{MirrorDir: filepath.Join(cfg.DataDir, "mirrors"), Credentials: credentialsFrom(st, keys)}
	rec := reconcile.New(st, src, log)
	sched := reconcile.NewScheduler(rec, st, src, log, reconcile.NewMetrics(reg), 2*runtime.GOMAXPROCS(0))
	srv := api.New(api.Config{
		Store: st, Auth: auth.NewAuthenticator(st), Syncer: sched, Log: log, Registry: reg,
		Ready: st.Ping,
	})
	return &Server{cfg: cfg, store: st, sched: sched, api: srv, AdminToken: tok}, nil
}

// Serve serves the API on ln and syncs repositories until ctx ends; then it
// stops accepting, lets work under way finish and closes the index.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	defer s.store.Close()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.api.Serve(gctx, ln, s.cfg.ShutdownTimeout) })
	g.Go(func() error { return s.sched.Run(gctx) })
	g.Go(func() error {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-gctx.Done():
				return nil
			case <-t.C:
				if err := s.store.CompactEvents(gctx, time.Now().Add(-s.cfg.EventRetention)); err != nil && gctx.Err() == nil {
					s.cfg.Log.Error("compact events", "err", err)
				}
			}
		}
	})
	return g.Wait()
}

func bootstrapAdminToken(ctx context.Context, st store.Store, dir string, log *slog.Logger) (string, error) {
	tokens, err := st.ListTokens(ctx)
	if err != nil || len(tokens) > 0 {
		return "", err
	}
	tok, hash, err := auth.NewToken()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, AdminTokenFile)
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", err
	}
	if err := st.CreateToken(ctx, &store.Token{Name: "admin", Hash: hash, Namespace: store.AllNamespaces,
		Role: store.RoleAdmin, CreatedAt: time.Now().UTC()}); err != nil {
		return "", err
	}
	log.Info("created an admin token valid in every namespace", "file", path)
	return tok, nil
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
func registerIndexMetrics(reg *prometheus.Registry, st *sqlstore.Store) {
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
		for _, f := range []string{st.Path(), st.Path() + "-wal"} {
			if info, err := os.Stat(f); err == nil {
				total += info.Size()
			} else if !errors.Is(err, fs.ErrNotExist) {
				return -1
			}
		}
		return float64(total)
	}))
}
