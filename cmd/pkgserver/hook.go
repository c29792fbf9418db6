package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pkgserver/pkgserver/hooks"
	"github.com/pkgserver/pkgserver/hooks/forward"
	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/gitserver"
	"github.com/pkgserver/pkgserver/internal/krm"
	"github.com/pkgserver/pkgserver/internal/pkgcheck"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/schema"
	"github.com/pkgserver/pkgserver/internal/store"
	"github.com/pkgserver/pkgserver/internal/validate"
)

// hookFlags configure the standalone hook: where the packages are, which
// policies apply, and which server to tell of pushes.
type hookFlags struct {
	repository string // [namespace/]name of the registration on the server
	branch     string
	directory  string
	server     string
	tokenFile  string
	cfg        validate.Config
	// requireRendered refuses packages that rendering would change, as a
	// Repository's spec.requireRendered does on the server.
	requireRendered bool
}

func (f *hookFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.repository, "repository", "", "the repository's registration on the server, [NAMESPACE/]NAME (default: the git directory's name, namespace default)")
	fl.StringVar(&f.branch, "branch", "main", "the repository branch")
	fl.StringVar(&f.directory, "directory", "", "the directory of the packages in the repository")
	fl.StringVar(&f.server, "server", "", "URL of a pkgserver to tell of accepted pushes")
	fl.StringVar(&f.tokenFile, "token-file", "", "file holding a token with the write role, for --server")
	fl.StringArrayVar(&f.cfg.SchemaDirs, "schemas", nil, "directory of CustomResourceDefinitions (repeatable)")
	fl.StringArrayVar(&f.cfg.PolicyPaths, "policy", nil, "file or directory of ValidatingAdmissionPolicies (repeatable)")
	fl.BoolVar(&f.cfg.NoDefaultPolicies, "no-default-policies", false, "do not apply the policies built into pkgserver")
	fl.BoolVar(&f.requireRendered, "require-rendered", false, "refuse packages that rendering their pipeline would change, rather than warn")
}

// args renders the flags back into the command line a hook script runs.
func (f *hookFlags) args() []string {
	var a []string
	add := func(flag, v string) {
		if v != "" {
			a = append(a, "--"+flag+"="+v)
		}
	}
	add("repository", f.repository)
	add("branch", f.branch)
	add("directory", f.directory)
	add("server", f.server)
	add("token-file", f.tokenFile)
	for _, d := range f.cfg.SchemaDirs {
		add("schemas", d)
	}
	for _, p := range f.cfg.PolicyPaths {
		add("policy", p)
	}
	if f.cfg.NoDefaultPolicies {
		a = append(a, "--no-default-policies")
	}
	if f.requireRendered {
		a = append(a, "--require-rendered")
	}
	return a
}

func newHookCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hook",
		Short: "Git server hooks: validate pushes, tell the server of them",
		Long: `Git server hooks. In pkgserver's hosted repositories, pre-receive and
post-receive forward the push to the server. Installed into any other bare
repository (pkgserver hook install), pre-receive validates pushes itself
with the embedded and --policy policies, and post-receive tells --server of
accepted pushes.`,
	}
	cmd.AddCommand(newHookRunCmd("pre-receive"), newHookRunCmd("post-receive"), newHookInstallCmd())
	return cmd
}

func newHookRunCmd(hook string) *cobra.Command {
	var (
		f   hookFlags
		fwd bool
	)
	cmd := &cobra.Command{
		Use:   hook,
		Short: "Run the " + hook + " hook (git runs it)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stderr := cmd.ErrOrStderr()
			if fwd {
				// Under pkgserver's own git host: the server decides. The
				// mode is the installed script's, never the environment's:
				// a pusher may be able to set variables.
				if code := forward.Run(hook, cmd.InOrStdin(), stderr, os.Getenv); code != 0 {
					return &exitError{code: code, err: errors.New("")}
				}
				return nil
			}
			var err error
			if hook == "pre-receive" {
				err = localPreReceive(cmd.Context(), &f, cmd.InOrStdin(), stderr)
			} else {
				err = localPostReceive(cmd.Context(), &f, cmd.InOrStdin(), stderr)
			}
			if err != nil {
				if msg := err.Error(); msg != "" {
					fmt.Fprintf(stderr, "pkgserver: %s\n", msg)
				}
				return &exitError{code: 1, err: errors.New("")}
			}
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&fwd, "forward", false, "forward the push to the pkgserver whose git host runs this hook (set by the host)")
	return cmd
}

// localPreReceive runs the push check (the push rules) in the hook
// process: the repository is git's current one, the pushed objects in its
// quarantine.
func localPreReceive(ctx context.Context, f *hookFlags, stdin io.Reader, stderr io.Writer) error {
	updates, err := forward.ReadUpdates(stdin)
	if err != nil {
		return err
	}
	gitDir := os.Getenv("GIT_DIR")
	if gitDir == "" {
		gitDir = "."
	}
	repo, err := gitrepo.Open(gitDir)
	if err != nil {
		return err
	}
	if repo, err = repo.WithQuarantine(gitrepo.Quarantine{
		ObjectDirectory:            os.Getenv("GIT_OBJECT_DIRECTORY"),
		AlternateObjectDirectories: os.Getenv("GIT_ALTERNATE_OBJECT_DIRECTORIES"),
		QuarantinePath:             os.Getenv("GIT_QUARANTINE_PATH"),
	}); err != nil {
		return err
	}
	_, name, err := f.registration(repo.GitDir())
	if err != nil {
		return err
	}
	f.cfg.Limits = krm.DefaultLimits()
	checker := &hooks.Checker{Packages: pkgcheck.New(f.cfg)}
	// Without a server there is no identity: every pusher is a writer, and
	// published tags cannot be moved through this hook at all.
	d, err := checker.Check(ctx, &hooks.Push{Repo: repo, Updates: updates, Role: store.RoleWrite,
		Config: revision.Config{Repository: name, Branch: f.branch, Directory: f.directory},
		Rules:  pkgcheck.Rules{RequireRendered: f.requireRendered}})
	if err != nil {
		return fmt.Errorf("the push could not be checked: %v; it is refused", err)
	}
	for _, l := range d.Lines {
		fmt.Fprintln(stderr, l)
	}
	if !d.Accept {
		return errors.New("")
	}
	return nil
}

// localPostReceive tells the server, if there is one, to sync the
// repository; the push is in git whatever happens here.
func localPostReceive(ctx context.Context, f *hookFlags, stdin io.Reader, stderr io.Writer) error {
	if _, err := io.Copy(io.Discard, io.LimitReader(stdin, 64<<20)); err != nil {
		return err
	}
	if f.server == "" {
		return nil
	}
	gitDir, _ := filepath.Abs(envOr("GIT_DIR", "."))
	ns, name, err := f.registration(gitDir)
	if err != nil {
		return err
	}
	tok, err := os.ReadFile(f.tokenFile)
	if err != nil {
		fmt.Fprintf(stderr, "pkgserver: the server was not told of the push (%v); its next sync finds it\n", err)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	u := strings.TrimSuffix(f.server, "/") + "/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/" +
		url.PathEscape(ns) + "/repositories/" + url.PathEscape(name) + "/sync"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(nil))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "pkgserver: the server was not told of the push (%v); its next sync finds it\n", err)
		return nil
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "pkgserver: the server answered %s; its next sync finds the push\n", resp.Status)
		return nil
	}
	fmt.Fprintf(stderr, "pkgserver: %s indexed the push\n", f.server)
	return nil
}

// registration returns the namespace and name the repository is
// registered under on the server: --repository, or the git directory's
// name in namespace default.
func (f *hookFlags) registration(gitDir string) (namespace, name string, err error) {
	namespace, name = "default", f.repository
	if ns, n, ok := strings.Cut(f.repository, "/"); ok {
		namespace, name = ns, n
	}
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(filepath.Clean(gitDir)), ".git")
		if !revision.IsLabel(name) {
			if f.server == "" {
				// Without a server the name only prefixes revision names
				// nobody sees.
				return namespace, "repository", nil
			}
			return "", "", fmt.Errorf("the git directory's name %q is not an RFC 1123 label: name the repository's registration with --repository [NAMESPACE/]NAME", name)
		}
	}
	if !revision.IsLabel(namespace) || !revision.IsLabel(name) {
		return "", "", fmt.Errorf("--repository %q: want [NAMESPACE/]NAME, RFC 1123 labels", f.repository)
	}
	return namespace, name, nil
}

func newHookInstallCmd() *cobra.Command {
	var (
		f      hookFlags
		gitDir string
		force  bool
	)
	cmd := &cobra.Command{
		Use:   "install --git-dir DIR",
		Short: "Install pkgserver's hooks into a bare repository of any git server",
		Long: `Install pkgserver's hooks into an existing repository: pre-receive
validates every push with the embedded and --policy policies and refuses
those that break the git contract or hold invalid packages; with --server,
post-receive tells that server of every accepted push. Hooks already there
are not replaced unless --force.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			repo, err := gitrepo.Open(gitDir)
			if err != nil {
				return usageError("--git-dir: %v", err)
			}
			if (f.server == "") != (f.tokenFile == "") {
				return usageError("--server and --token-file go together")
			}
			if f.tokenFile != "" {
				if f.tokenFile, err = filepath.Abs(f.tokenFile); err != nil {
					return err
				}
				if _, err := os.ReadFile(f.tokenFile); err != nil {
					return usageError("--token-file: %v", err)
				}
			}
			for i, p := range f.cfg.PolicyPaths {
				if f.cfg.PolicyPaths[i], err = filepath.Abs(p); err != nil {
					return err
				}
			}
			for i, p := range f.cfg.SchemaDirs {
				if f.cfg.SchemaDirs[i], err = filepath.Abs(p); err != nil {
					return err
				}
			}
			if _, _, err := f.registration(repo.GitDir()); err != nil {
				return usageError("%v", err)
			}
			// The policies must be sound now, not at the first push.
			f.cfg.Limits = krm.DefaultLimits()
			if _, err := validate.Build(cmd.Context(), f.cfg, schema.NewBuiltin()); err != nil {
				return usageError("%v", err)
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			names := []string{"pre-receive"}
			if f.server != "" {
				names = append(names, "post-receive")
			}
			for _, n := range names {
				path := filepath.Join(repo.GitDir(), "hooks", n)
				data, err := os.ReadFile(path)
				if err == nil && !force && !bytes.Contains(data, []byte("Installed by pkgserver")) {
					return usageError("%s exists and is not pkgserver's: move it away or use --force", path)
				}
			}
			command := append([]string{self, "hook"}, f.args()...)
			if err := gitserver.InstallHookScripts(repo.GitDir(), command, names); err != nil {
				return err
			}
			if f.server == "" {
				// A post-receive left from an install with --server would
				// go on telling that server, with other flags.
				path := filepath.Join(repo.GitDir(), "hooks", "post-receive")
				if data, err := os.ReadFile(path); err == nil && bytes.Contains(data, []byte("Installed by pkgserver")) {
					if err := os.Remove(path); err != nil {
						return err
					}
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "installed %s into %s\n", strings.Join(names, " and "), repo.GitDir())
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&gitDir, "git-dir", "", "the repository's git directory (required)")
	cmd.Flags().BoolVar(&force, "force", false, "replace hooks that are not pkgserver's")
	_ = cmd.MarkFlagRequired("git-dir")
	return cmd
}
