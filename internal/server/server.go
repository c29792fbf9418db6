// Package server assembles pkgserver's service from its parts: the index,
// tokens, sealed credentials, the sync scheduler, the HTTP API and metrics.
// `pkgserver serve` runs it; tests run the same assembly on a random port.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/pkgserver/pkgserver/hooks"
	"github.com/pkgserver/pkgserver/internal/api"
	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/auth"
	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/gitserver"
	"github.com/pkgserver/pkgserver/internal/krm"
	"github.com/pkgserver/pkgserver/internal/lifecycle"
	"github.com/pkgserver/pkgserver/internal/pkgcheck"
	"github.com/pkgserver/pkgserver/internal/reconcile"
	"github.com/pkgserver/pkgserver/internal/render"
	"github.com/pkgserver/pkgserver/internal/store"
	"github.com/pkgserver/pkgserver/internal/store/sqlstore"
	"github.com/pkgserver/pkgserver/internal/ui"
	"github.com/pkgserver/pkgserver/internal/validate"
	"github.com/pkgserver/pkgserver/webhooks"
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
	// HookCommand is what hosted repositories' hooks run, the hook's name
	// appended (default DefaultHookCommand).
	HookCommand []string
	// PullRequestRefresh is how often open pull requests are read again
	// from the forges (default 10 min).
	PullRequestRefresh time.Duration
	// ReportRetryBase is the first pause before posting a check to a forge
	// again after a failure (default 2 s, doubling with each attempt).
	ReportRetryBase time.Duration
	// GitLimits bound the git host (default DefaultGitLimits).
	GitLimits gitserver.Limits
	// SSH configures the SSH front end; its host key defaults to
	// <DataDir>/ssh_host_ed25519_key.
	SSH gitserver.SSHConfig
	// Keys seal credentials and webhook secrets (default the key of the
	// data directory, made on first start). Replicas of one index share
	// theirs.
	Keys *auth.Keyring
	// Version is the build's version, which the API answers at /version.
	Version string
	// TLS, if set, makes the HTTP listener serve TLS (see LoadTLS): the
	// API, git's smart HTTP and webhooks alike.
	TLS *tls.Config
	// ValidationBudget bounds the memory of the validations run at once by
	// pushes, API writes and webhooks; nil for a budget of
	// validate.DefaultBudget.
	ValidationBudget *validate.Budget
	// Render is how API writes render packages: whether exec functions
	// may run, and for how long.
	Render render.Options
}

// DeliveryRetention is how long processed webhook deliveries are kept: their
// ids answer redeliveries (forges redeliver for days at most).
const DeliveryRetention = 7 * 24 * time.Hour

// CheckRetention is how long the reports of checks posted to a forge are
// kept: their details URLs answer, and their commits are not checked again.
const CheckRetention = 30 * 24 * time.Hour

// DefaultGitLimits are the git host's limits unless configured.
var DefaultGitLimits = gitserver.Limits{MaxPushBytes: 512 << 20, IdleSeconds: 120}

// Server is pkgserver's service.
type Server struct {
	cfg      Config
	store    *sqlstore.Store
	sched    *reconcile.Scheduler
	api      *api.Server
	host     *gitserver.Host
	repos    *hostedRepos
	webhooks *webhooks.Processor
	reporter *webhooks.Reporter
	hooks    http.Handler
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
	keys := cfg.Keys
	if keys == nil {
		if keys, err = auth.LoadKeyring(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registerIndexMetrics(reg, st)

	if cfg.HookCommand == nil {
		if cfg.HookCommand, err = DefaultHookCommand(); err != nil {
			return nil, err
		}
	}
	if cfg.GitLimits == (gitserver.Limits{}) {
		cfg.GitLimits = DefaultGitLimits
	}
	if cfg.SSH.HostKeyPath == "" {
		cfg.SSH.HostKeyPath = filepath.Join(cfg.DataDir, "ssh_host_ed25519_key")
	}
	// Paths handed to git are absolute: git runs in the repository.
	root, err := filepath.Abs(filepath.Join(cfg.DataDir, "repos"))
	if err != nil {
		return nil, err
	}
	hosting := &gitserver.Hosting{Root: root, Hook: cfg.HookCommand}
	src := gitSource(cfg.DataDir, hosting.Root, st, keys)
	rec := reconcile.New(st, src, log)
	sched := reconcile.NewScheduler(rec, st, src, log, reconcile.NewMetrics(reg), 2*runtime.GOMAXPROCS(0))
	tokens := auth.NewAuthenticator(st)
	host := &gitserver.Host{Store: st, Hosting: hosting, Pushes: gitserver.NewPushes(), Keys: auth.NewKeyAuthenticator(st),
		Tokens: tokens, Limits: cfg.GitLimits, Log: log}
	host.Pushes.Repos = st
	budget := cfg.ValidationBudget
	if budget == nil {
		var err error
		if budget, err = validate.NewBudget(validate.DefaultBudget); err != nil {
			return nil, err
		}
	}
	checker := &hooks.Checker{Packages: pkgcheck.New(validate.Config{Limits: krm.DefaultLimits(), Budget: budget})}
	repos := &hostedRepos{hosting: hosting}
	processor := webhooks.NewProcessor(st, sched, log)
	forges := webhooks.Forges(apiTokenFrom(st, keys), nil)
	reporter := webhooks.NewReporter(st, forges, func(ns, repo, commit string) string {
		return repos.base() + "/apis/" + configv1alpha1.APIVersion + "/namespaces/" + ns + "/repositories/" + repo + "/checks/" + commit
	}, log)
	reporter.RetryBase = cfg.ReportRetryBase
	processor.PullRequestRefresh = cfg.PullRequestRefresh
	// One id per process holds the leases of its work in the database.
	replica := store.NewReplicaID()
	sched.Owner, processor.Owner, reporter.Owner = replica, replica, replica
	log.Info("replica", "id", replica)
	processor.Git, processor.Checker, processor.Forges, processor.Reporter = src.Local, checker, forges, reporter
	receiver := &webhooks.Receiver{Store: st, Secret: webhookSecretFrom(st, keys), Log: log, Stored: processor.Notify}
	writer := &lifecycle.Writer{Store: st, Git: src.Writable, Index: sched, Packages: checker.Packages, Log: log, Render: cfg.Render, RepoURL: func(r *store.Repository) string {
		if r.Object.Spec.Provider == configv1alpha1.ProviderHosted {
			return repos.CloneURLs(r.Object.Namespace, r.Object.Name).HTTP
		}
		return r.Object.Spec.Git.URL
	}}
	writer.Rendered = renderMetric(reg)
	writer.Locks = st
	// Approvals and merged pull requests publish a package one at a time.
	writer.Publisher = &lifecycle.Publisher{}
	processor.Publisher = writer.Publisher
	hookHandler := host.HookHandler(checker, sched)
	handlers := map[string]http.Handler{
		gitserver.HTTPPrefix: host.HTTPHandler(),
		webhooks.Prefix:      receiver.Handler(),
	}
	// With TLS the hooks have a loopback listener of their own (see
	// Serve): the public listener does not answer them, so a push's hook
	// token is never worth guessing from outside this machine.
	if cfg.TLS == nil {
		handlers[gitserver.HookPrefix] = hookHandler
	}
	srv, err := withUI(st, tokens, log, handlers, api.Config{
		Store: st, Auth: tokens, Syncer: sched, Log: log, Registry: reg, Lifecycle: writer,
		Ready: st.Ping, Hosted: repos, DataDir: cfg.DataDir, Version: cfg.Version,
		WebhookURL: func(r *configv1alpha1.Repository) string { return webhooks.URL(repos.base(), r) },
	})
	if err != nil {
		return nil, err
	}
	return &Server{cfg: cfg, store: st, sched: sched, api: srv, host: host, repos: repos, webhooks: processor, reporter: reporter, hooks: hookHandler, AdminToken: tok}, nil
}

// withUI makes the API server with handlers and the web UI beside it: the
// UI calls the API in process, and the server's root leads to the UI.
func withUI(st store.Store, tokens *auth.Authenticator, log *slog.Logger, handlers map[string]http.Handler, cfg api.Config) (*api.Server, error) {
	web, err := ui.New(ui.Config{Store: st, Auth: tokens, Log: log})
	if err != nil {
		return nil, err
	}
	handlers[ui.Prefix] = web.Handler()
	cfg.Handlers, cfg.Home = handlers, ui.Prefix
	srv := api.New(cfg)
	web.SetAPI(srv.Handler(), srv.Stopping())
	return srv, nil
}

// Serve serves the API (and git's smart HTTP) on ln, over TLS if the
// server was configured with it, git over SSH on sshLn unless it is nil, and
// syncs repositories until ctx ends; then it stops accepting, lets work
// under way finish and closes the index.
func (s *Server) Serve(ctx context.Context, ln, sshLn net.Listener) error {
	defer s.store.Close()
	var sshSrv *gitserver.SSHServer
	if sshLn != nil {
		var err error
		if sshSrv, err = gitserver.NewSSHServer(s.host, s.cfg.SSH); err != nil {
			return err
		}
	}
	var hookLn net.Listener
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.cfg.TLS)
		// Hooks speak plain HTTP (hooks/forward links no TLS: git starts
		// them on every push), so they get a listener of their own that
		// only this machine reaches; each push's token still guards it.
		var err error
		if hookLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return fmt.Errorf("listen for hooks: %w", err)
		}
		defer hookLn.Close()
		s.host.HookURL = "http://" + hookLn.Addr().String() + strings.TrimSuffix(gitserver.HookPrefix, "/")
	} else {
		s.host.HookURL = "http://" + loopback(ln.Addr()) + strings.TrimSuffix(gitserver.HookPrefix, "/")
	}
	var sshAddr net.Addr
	if sshLn != nil {
		sshAddr = sshLn.Addr()
	}
	s.repos.listen(ln.Addr(), sshAddr, s.cfg.TLS != nil)
	s.removeStaleTemp()
	if err := s.refreshHooks(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	// Pushes under way when shutdown begins still run their hooks: the
	// hooks' listener closes after the git front ends are done.
	apiDone, sshDone := make(chan struct{}), make(chan struct{})
	g.Go(func() error {
		defer close(apiDone)
		return s.api.Serve(gctx, ln, s.cfg.ShutdownTimeout)
	})
	if sshSrv != nil {
		g.Go(func() error {
			defer close(sshDone)
			return sshSrv.Serve(gctx, sshLn, s.cfg.ShutdownTimeout)
		})
	} else {
		close(sshDone)
	}
	if hookLn != nil {
		g.Go(func() error { return serveHooks(hookLn, s.hooks, s.cfg.ShutdownTimeout, apiDone, sshDone) })
	}
	g.Go(func() error { s.host.RunMaintenance(gctx); return nil })
	g.Go(func() error { s.webhooks.Run(gctx); return nil })
	g.Go(func() error { s.reporter.Run(gctx); return nil })
	g.Go(func() error { return s.sched.Run(gctx) })
	g.Go(func() error {
		// Trees indexed by an older version have no meta yet.
		n, err := reconcile.FillTreeMeta(gctx, s.store)
		if err != nil && gctx.Err() == nil {
			s.cfg.Log.Error("read the Kptfiles of trees indexed before", "err", err)
		} else if n > 0 {
			s.cfg.Log.Info("read the Kptfiles of trees indexed before", "trees", n)
		}
		return nil
	})
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
				if err := s.store.CompactDeliveries(gctx, time.Now().Add(-DeliveryRetention)); err != nil && gctx.Err() == nil {
					s.cfg.Log.Error("compact webhook deliveries", "err", err)
				}
				if err := s.store.CompactChecks(gctx, time.Now().Add(-CheckRetention)); err != nil && gctx.Err() == nil {
					s.cfg.Log.Error("compact checks", "err", err)
				}
				if _, err := s.store.DeleteExpiredSessions(gctx, time.Now()); err != nil && gctx.Err() == nil {
					s.cfg.Log.Error("delete expired sessions of the web UI", "err", err)
				}
			}
		}
	})
	return g.Wait()
}

// serveHooks answers the hooks on their own listener until the git front
// ends are done: a push under way at shutdown runs its hooks to the end.
func serveHooks(ln net.Listener, h http.Handler, timeout time.Duration, fronts ...<-chan struct{}) error {
	mux := http.NewServeMux()
	mux.Handle(gitserver.HookPrefix, h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	for _, done := range fronts {
		select {
		case <-done:
		case err := <-errc:
			return fmt.Errorf("serve hooks: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := srv.Shutdown(ctx)
	<-errc
	return err
}

// removeStaleTemp removes the temporary directories of dry runs and
// upgrade merges that a pkgserver killed at work left behind; those of
// processes still running are kept. A failure is logged, not fatal: the
// directories take space, nothing reads them.
func (s *Server) removeStaleTemp() {
	for _, prefix := range []string{gitrepo.ScratchPrefix, lifecycle.UpgradePrefix} {
		n, err := gitrepo.RemoveStaleTemp(prefix)
		if n > 0 {
			s.cfg.Log.Info("removed temporary directories left by a stopped server", "prefix", prefix, "count", n)
		}
		if err != nil {
			s.cfg.Log.Warn("remove temporary directories left by a stopped server", "prefix", prefix, "err", err)
		}
	}
}

// refreshHooks installs the current hooks into every hosted repository:
// the hook program's path changes when pkgserver is installed elsewhere.
func (s *Server) refreshHooks(ctx context.Context) error {
	repos, err := s.store.ListRepositories(ctx, "")
	if err != nil {
		return err
	}
	for _, r := range repos {
		if r.Object.Spec.Provider != configv1alpha1.ProviderHosted {
			continue
		}
		dir := s.host.Hosting.Path(r.Object.Namespace, r.Object.Name)
		if _, err := os.Stat(dir); err != nil {
			s.cfg.Log.Error("hosted repository missing on disk", "repo", r.Object.Namespace+"/"+r.Object.Name, "dir", dir)
			continue
		}
		if err := s.host.Hosting.Refresh(ctx, dir); err != nil {
			return fmt.Errorf("install hooks of %s/%s: %w", r.Object.Namespace, r.Object.Name, err)
		}
	}
	return nil
}

func bootstrapAdminToken(ctx context.Context, st store.Tokens, dir string, log *slog.Logger) (string, error) {
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
	err = st.CreateToken(ctx, &store.Token{Name: "admin", Hash: hash, Namespace: store.AllNamespaces,
		Role: store.RoleAdmin, CreatedAt: time.Now().UTC()})
	if errors.Is(err, store.ErrExists) {
		// Another replica of a shared index made it first: its data
		// directory holds the token.
		os.Remove(path)
		return "", nil
	}
	if err != nil {
		return "", err
	}
	log.Info("created an admin token valid in every namespace", "file", path)
	return tok, nil
}

// credentialsFrom opens the secrets repositories name.
// GitSource is where the index of a data directory reads git from, as the
// server reads it: the hosted repositories of the data directory, mirrors of
// remote ones, with the stored credentials. pkgserver reindex uses it.
func GitSource(dataDir string, keys *auth.Keyring, st store.Secrets) (*reconcile.GitSource, error) {
	root, err := filepath.Abs(filepath.Join(dataDir, "repos"))
	if err != nil {
		return nil, err
	}
	return gitSource(dataDir, root, st, keys), nil
}

func gitSource(dataDir, hostedRoot string, st store.Secrets, keys *auth.Keyring) *reconcile.GitSource {
	return &reconcile.GitSource{MirrorDir: filepath.Join(dataDir, "mirrors"), HostedDir: hostedRoot, Credentials: credentialsFrom(st, keys)}
}

func credentialsFrom(st store.Secrets, keys *auth.Keyring) reconcile.CredentialsFunc {
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

// webhookSecretFrom reads the secret webhooks of a repository are verified
// with: the token of a stored secret.
func webhookSecretFrom(st store.Secrets, keys *auth.Keyring) webhooks.SecretFunc {
	creds := credentialsFrom(st, keys)
	return func(ctx context.Context, namespace, name string) (string, error) {
		c, err := creds(ctx, namespace, name)
		if err != nil {
			return "", err
		}
		if c == nil || c.Token == "" {
			return "", fmt.Errorf("secret %q holds no token (pkgserver secret set %s --token-file F)", name, name)
		}
		return c.Token, nil
	}
}

// apiTokenFrom reads the token pkgserver calls a repository's forge with:
// the token, else the password, of its credentials; "" without any.
func apiTokenFrom(st store.Secrets, keys *auth.Keyring) webhooks.TokenFunc {
	creds := credentialsFrom(st, keys)
	return func(ctx context.Context, repo *store.Repository) (string, error) {
		name := repo.Object.Spec.Git.Credentials
		if name == "" {
			return "", nil
		}
		c, err := creds(ctx, repo.Object.Namespace, name)
		if err != nil || c == nil {
			return "", err
		}
		if c.Token != "" {
			return c.Token, nil
		}
		return c.Password, nil
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
		Help: "Size of the index: the SQLite file with its write-ahead log, or the PostgreSQL database.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n, err := st.Size(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	}))
}

// renderMetric exports how long the renders of API writes take, by
// outcome, in buckets fine enough to read a p50 of a few milliseconds.
func renderMetric(reg *prometheus.Registry) func(time.Duration, bool) {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "pkgserver_render_duration_seconds",
		Help: "Time to render the package of an API write (its Kptfile pipelines, in process), by outcome.",
		Buckets: []float64{.001, .0025, .005, .0075, .01, .0125, .015, .0175, .02, .0225, .025, .03, .035, .04, .05,
			.075, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"outcome"})
	reg.MustRegister(h)
	return func(took time.Duration, ok bool) {
		outcome := "ok"
		if !ok {
			outcome = "failed"
		}
		h.WithLabelValues(outcome).Observe(took.Seconds())
	}
}
