package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/pkgserver/pkgserver/internal/auth"
	"github.com/pkgserver/pkgserver/internal/gitserver"
	"github.com/pkgserver/pkgserver/internal/render"
	"github.com/pkgserver/pkgserver/internal/server"
	"github.com/pkgserver/pkgserver/internal/validate"
)

// adminTokenFile is where serve writes the first admin token.
const adminTokenFile = server.AdminTokenFile

func newServeCmd() *cobra.Command {
	var (
		data       dataFlags
		keys       keyFlags
		hostKey    string
		httpAddr   string
		sshAddr    string
		tlsOpts    server.TLSOptions
		valMem     string
		perToken   string
		perUser    string
		renderOpts render.Options
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server: the HTTP API, the git host, and syncing registered repositories with git",
		Long: `Run the server: the HTTP API, the git host (hosted repositories over SSH
and smart HTTP) and syncing registered repositories with git.
On first start it creates an admin token valid in every namespace and writes
it to <data>/admin.token, readable by its owner only, an SSH host key in
<data>/ssh_host_ed25519_key (or --ssh-host-key-file) and the key sealing
credentials in <data>/secret.key (or --keyring-file). Replicas of one
PostgreSQL database share the host key and the sealing key: give each the
same files. SIGINT or SIGTERM stop it gracefully: no new
requests, work under way finishes, the index is closed.

With --tls-cert-file and --tls-private-key-file, or --tls-self-signed, the
HTTP address serves https: the API, git's smart HTTP and webhooks. The
self-signed certificate is signed by a CA made on first start in
<data>/tls/ca.crt, reused on later starts and issued again when it nears its
expiry or its names change; 'pkgserver kubeconfig' hands the CA to kubectl.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if v := os.Getenv("PKGSERVER_TLS_SELF_SIGNED"); v != "" && !cmd.Flags().Changed("tls-self-signed") {
				var err error
				if tlsOpts.SelfSigned, err = strconv.ParseBool(v); err != nil {
					return usageError("PKGSERVER_TLS_SELF_SIGNED=%s: want true or false", v)
				}
			}
			if v := os.Getenv("PKGSERVER_TLS_SAN"); v != "" && !cmd.Flags().Changed("tls-san") {
				for _, san := range strings.Split(v, ",") {
					tlsOpts.SANs = append(tlsOpts.SANs, strings.TrimSpace(san))
				}
			}
			tlsOpts.HTTPAddr = httpAddr
			if err := tlsOpts.Validate(); err != nil {
				return usageError("%v", err)
			}
			memory, err := parseBytes(valMem)
			if err != nil {
				return usageError("--validation-memory %s: %v", valMem, err)
			}
			budget, err := validate.NewBudget(memory)
			if err != nil {
				return usageError("--validation-memory %s: %v", valMem, err)
			}
			gitLimits, sshCfg := server.DefaultGitLimits, gitserver.SSHConfig{}
			if gitLimits.HTTPRequestsPerToken, err = positiveInt(perToken); err != nil {
				return usageError("--git-http-requests-per-token %s: %v", perToken, err)
			}
			if sshCfg.PerUser, err = positiveInt(perUser); err != nil {
				return usageError("--ssh-per-user %s: %v", perUser, err)
			}
			if renderOpts.ExecTimeout < 0 {
				return usageError("--exec-function-timeout %s: want a positive duration", renderOpts.ExecTimeout)
			}
			sshCfg.HostKeyPath = hostKey
			k, err := keys.load(data.dir)
			if err != nil {
				return usageError("%v", err)
			}
			if err := serve(ctx, logger(slog.LevelInfo), data, k, httpAddr, sshAddr, tlsOpts, budget, gitLimits, sshCfg, renderOpts); err != nil {
				return &exitError{code: 1, err: err}
			}
			return nil
		},
	}
	data.add(cmd.Flags())
	keys.add(cmd.Flags())
	cmd.Flags().StringVar(&hostKey, "ssh-host-key-file", envOr("PKGSERVER_SSH_HOST_KEY_FILE", ""),
		"the git host's SSH host key (OpenSSH ed25519 private key), shared by replicas; default <data>/ssh_host_ed25519_key, made on first start (PKGSERVER_SSH_HOST_KEY_FILE)")
	cmd.Flags().StringVar(&httpAddr, "http", envOr("PKGSERVER_HTTP", "127.0.0.1:7007"), "address of the HTTP API and git's smart HTTP (PKGSERVER_HTTP)")
	cmd.Flags().StringVar(&sshAddr, "ssh", envOr("PKGSERVER_SSH", "127.0.0.1:2222"), `address of the git host's SSH server, "" for none (PKGSERVER_SSH)`)
	cmd.Flags().StringVar(&tlsOpts.CertFile, "tls-cert-file", envOr("PKGSERVER_TLS_CERT_FILE", ""), "PEM certificate (chain) the HTTP address serves https with (PKGSERVER_TLS_CERT_FILE)")
	cmd.Flags().StringVar(&tlsOpts.KeyFile, "tls-private-key-file", envOr("PKGSERVER_TLS_PRIVATE_KEY_FILE", ""), "PEM private key of --tls-cert-file (PKGSERVER_TLS_PRIVATE_KEY_FILE)")
	cmd.Flags().BoolVar(&tlsOpts.SelfSigned, "tls-self-signed", false, "without --tls-cert-file, serve https with a certificate signed by a CA made in <data>/tls (PKGSERVER_TLS_SELF_SIGNED)")
	cmd.Flags().StringVar(&valMem, "validation-memory", envOr("PKGSERVER_VALIDATION_MEMORY", "1Gi"), "memory budget of the validations run at once by pushes, API writes and webhooks, in bytes or as a quantity (512Mi, 2GiB); see docs/validation.md (PKGSERVER_VALIDATION_MEMORY)")
	cmd.Flags().StringSliceVar(&tlsOpts.SANs, "tls-san", nil, "another host name or IP address of the self-signed certificate, besides localhost, 127.0.0.1, ::1 and the host of --http; repeatable (PKGSERVER_TLS_SAN, comma-separated)")
	cmd.Flags().StringVar(&perToken, "git-http-requests-per-token", envOr("PKGSERVER_GIT_HTTP_REQUESTS_PER_TOKEN", strconv.Itoa(gitserver.MaxHTTPRequestsPerToken)),
		"smart HTTP git requests one token may run at once; beyond it git is answered 429; see docs/hosting.md (PKGSERVER_GIT_HTTP_REQUESTS_PER_TOKEN)")
	cmd.Flags().StringVar(&perUser, "ssh-per-user", envOr("PKGSERVER_SSH_PER_USER", strconv.Itoa(gitserver.DefaultPerUser)),
		"SSH connections, and git commands over SSH, one user may hold at once; see docs/hosting.md (PKGSERVER_SSH_PER_USER)")
	cmd.Flags().BoolVar(&renderOpts.AllowExec, "allow-exec-functions", false,
		"let the pipelines of packages written through the API run exec functions: each runs as a process of this server, with its user's rights, in a clean environment, for at most --exec-function-timeout; see docs/api.md")
	cmd.Flags().DurationVar(&renderOpts.ExecTimeout, "exec-function-timeout", render.DefaultExecTimeout, "how long one exec function of a render may run")
	return cmd
}

// positiveInt reads a count that must be at least 1.
func positiveInt(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("want a whole number of at least 1")
	}
	return n, nil
}

func serve(ctx context.Context, log *slog.Logger, data dataFlags, keys *auth.Keyring, httpAddr, sshAddr string, tlsOpts server.TLSOptions, budget *validate.Budget,
	gitLimits gitserver.Limits, sshCfg gitserver.SSHConfig, renderOpts render.Options) error {
	// A certificate that cannot be served is refused before anything
	// starts.
	tlsConfig, err := server.LoadTLS(tlsOpts, data.dir, log)
	if err != nil {
		return err
	}
	st, err := data.openStore(ctx)
	if err != nil {
		return err
	}
	srv, err := server.New(ctx, server.Config{DataDir: data.dir, Keys: keys, Store: st, Log: log, Version: version, TLS: tlsConfig, ValidationBudget: budget,
		GitLimits: gitLimits, SSH: sshCfg, Render: renderOpts})
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
	scheme := "http://"
	if tlsConfig != nil {
		scheme = "https://"
	}
	log.Info("serving", "http", scheme+ln.Addr().String(), "data", data.dir)
	err = srv.Serve(ctx, ln, sshLn)
	log.Info("stopped")
	return err
}

// parseBytes reads a size in bytes: a plain number, a Kubernetes quantity
// (512Mi, 1G) or a binary unit with its B (512MiB, 2GiB).
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if strings.HasSuffix(s, "iB") {
		s = strings.TrimSuffix(s, "B")
	}
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return 0, fmt.Errorf("want bytes, or a quantity such as 512Mi or 2GiB")
	}
	n, ok := q.AsInt64()
	if !ok || n <= 0 {
		return 0, fmt.Errorf("want a positive whole number of bytes")
	}
	return n, nil
}
