package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/client"
	"github.com/pkgserver/pkgserver/internal/reconcile"
)

func newRepoCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{Use: "repo", Short: "Register, list, sync and remove repositories of a server"}
	cf.add(cmd.PersistentFlags())
	cmd.AddCommand(newRepoAddCmd(&cf), newRepoGetCmd(&cf, false), newRepoGetCmd(&cf, true), newRepoDeleteCmd(&cf), newRepoSyncCmd(&cf))
	return cmd
}

func newRepoAddCmd(cf *clientFlags) *cobra.Command {
	var (
		spec    configv1alpha1.RepositorySpec
		timeout time.Duration
		noWait  bool
		hosted  bool
		gh, gl  string
		apiURL  string
	)
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "add NAME URL | add NAME --hosted",
		Short: "Register a git repository and wait for its first sync",
		Long: `Register a git repository with the server, which indexes its package
revisions and keeps them in step with git. URL is an http(s), ssh or git URL,
user@host:path, or a local path (made absolute here: the server must see the
same file system). With --hosted, the server creates the repository and
hosts it: clone it and push to it over SSH or HTTP at the URLs printed.
With --github OWNER/REPO or --gitlab PROJECT, the repository lives on that
forge: pushes and pull (merge) requests arrive as webhooks signed with the
secret --webhook-secret names, at the URL printed, and pkgserver reports its
checks and publishes merged requests through the forge's API with the token
of --credentials (docs/webhooks.md).
The command waits for the first sync unless --no-wait.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if hosted != (len(args) == 1) {
				return usageError("give a URL, or --hosted for a repository the server hosts")
			}
			c, err := cf.client()
			if err != nil {
				return err
			}
			switch {
			case gh != "" && gl != "":
				return usageError("give --github or --gitlab, not both")
			case gh != "":
				owner, repo, ok := strings.Cut(gh, "/")
				if !ok || owner == "" || repo == "" || strings.Contains(repo, "/") {
					return usageError("--github takes OWNER/REPO")
				}
				spec.Provider, spec.GitHub = configv1alpha1.ProviderGitHub, &configv1alpha1.GitHubSpec{Owner: owner, Repo: repo, BaseURL: apiURL}
			case gl != "":
				spec.Provider, spec.GitLab = configv1alpha1.ProviderGitLab, &configv1alpha1.GitLabSpec{Project: gl, BaseURL: apiURL}
			case apiURL != "" || spec.WebhookSecret != "":
				return usageError("--api-url and --webhook-secret go with --github or --gitlab")
			}
			if hosted {
				if spec.Provider != "" {
					return usageError("a hosted repository is not on GitHub or GitLab")
				}
				spec.Provider = configv1alpha1.ProviderHosted
			} else {
				url := args[1]
				if p, ok := reconcile.LocalPath(url); ok {
					abs, err := filepath.Abs(p)
					if err != nil {
						return usageError("%v", err)
					}
					url = abs
				}
				spec.Git.URL = url
			}
			if interval != 0 {
				spec.Sync = &configv1alpha1.Sync{Interval: metav1.Duration{Duration: interval}}
			}
			ctx := cmd.Context()
			r, err := c.CreateRepository(ctx, &configv1alpha1.Repository{
				ObjectMeta: metav1.ObjectMeta{Name: args[0], Namespace: cf.namespace},
				Spec:       spec,
			})
			if err != nil {
				return remoteError(err)
			}
			if noWait {
				fmt.Fprintf(cmd.OutOrStdout(), "repository %s/%s added\n", r.Namespace, r.Name)
				return nil
			}
			r, err = waitSynced(ctx, c, r.Namespace, r.Name, timeout)
			if err != nil {
				return remoteError(err)
			}
			return reportSync(cmd.OutOrStdout(), r, "added")
		},
	}
	f := cmd.Flags()
	f.StringVar(&spec.Git.Branch, "branch", "main", "branch whose head holds the packages")
	f.BoolVar(&hosted, "hosted", false, "create the repository on the server's git host")
	f.StringVar(&spec.Git.Directory, "directory", "", "directory of the packages in the repository (default its root)")
	f.StringVar(&spec.Git.Credentials, "credentials", "", "name of the stored secret to fetch with (pkgserver secret set)")
	f.BoolVar(&spec.Deployment, "deployment", false, "a deployment repository (instantiated packages) rather than a catalog")
	f.DurationVar(&interval, "interval", 0, "how often to look for changes (default 60s)")
	f.StringVar(&gh, "github", "", "OWNER/REPO: the repository is on GitHub")
	f.StringVar(&gl, "gitlab", "", "PROJECT (group/project or id): the repository is on GitLab")
	f.StringVar(&apiURL, "api-url", "", "the forge's API URL, for GitHub Enterprise (https://HOST/api/v3) or self-managed GitLab (https://HOST)")
	f.StringVar(&spec.WebhookSecret, "webhook-secret", "", "name of the stored secret the forge signs webhooks with (pkgserver secret set)")
	f.BoolVar(&noWait, "no-wait", false, "return once registered, without waiting for the first sync")
	f.DurationVar(&timeout, "timeout", 10*time.Minute, "how long to wait for the first sync")
	return cmd
}

// waitSynced polls a repository until its Ready condition is decided.
func waitSynced(ctx context.Context, c *client.Client, ns, name string, timeout time.Duration) (*configv1alpha1.Repository, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	delay := 50 * time.Millisecond
	for {
		r, err := c.GetRepository(ctx, ns, name)
		if err != nil {
			return nil, err
		}
		if ready := meta.FindStatusCondition(r.Status.Conditions, "Ready"); ready != nil && ready.Status != metav1.ConditionUnknown {
			return r, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("repository %s/%s: not synced after %s", ns, name, timeout)
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Second)
	}
}

// reportSync says how a sync went; a failed one is the command's failure.
func reportSync(w io.Writer, r *configv1alpha1.Repository, did string) error {
	ready := meta.FindStatusCondition(r.Status.Conditions, "Ready")
	if ready != nil && ready.Status == metav1.ConditionFalse {
		return &exitError{code: 1, err: fmt.Errorf("repository %s/%s %s, but its sync failed: %s", r.Namespace, r.Name, did, ready.Message)}
	}
	packages := "packages"
	if r.Status.PackageCount == 1 {
		packages = "package"
	}
	fmt.Fprintf(w, "repository %s/%s %s: %d %s", r.Namespace, r.Name, did, r.Status.PackageCount, packages)
	if r.Status.Commit != "" {
		fmt.Fprintf(w, " at %s", shortCommit(r.Status.Commit))
	}
	fmt.Fprintln(w)
	if u := r.Status.CloneURLs; u != nil {
		for _, a := range []string{u.SSH, u.HTTP} {
			if a != "" {
				fmt.Fprintf(w, "clone: git clone %s\n", a)
			}
		}
	}
	if r.Status.WebhookURL != "" {
		fmt.Fprintf(w, "webhook: %s\n", r.Status.WebhookURL)
	}
	for _, p := range r.Status.Problems {
		fmt.Fprintf(w, "warning: %s\n", p)
	}
	return nil
}

func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

// newRepoGetCmd is "repo get [NAME]", or "repo list".
func newRepoGetCmd(cf *clientFlags, list bool) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "get [NAME]",
		Short: "Show the repositories, or one",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cf.checkOutput(); err != nil {
				return err
			}
			c, err := cf.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var items []configv1alpha1.Repository
			if len(args) == 1 {
				r, err := c.GetRepository(ctx, cf.namespace, args[0])
				if err != nil {
					return remoteError(err)
				}
				if cf.output != "table" {
					return writeObject(cmd.OutOrStdout(), cf.output, r)
				}
				items = []configv1alpha1.Repository{*r}
			} else {
				ns := cf.namespace
				if all {
					ns = ""
				}
				l, err := c.ListRepositories(ctx, ns)
				if err != nil {
					return remoteError(err)
				}
				if cf.output != "table" {
					return writeObject(cmd.OutOrStdout(), cf.output, l)
				}
				items = l.Items
			}
			return repoTable(cmd.OutOrStdout(), items, all)
		},
	}
	if list {
		cmd.Use, cmd.Short, cmd.Args = "list", "List the repositories", cobra.NoArgs
	}
	cf.addOutput(cmd.Flags())
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "repositories of every namespace")
	return cmd
}

func repoTable(w io.Writer, items []configv1alpha1.Repository, withNamespace bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	if withNamespace {
		fmt.Fprint(tw, "NAMESPACE\t")
	}
	fmt.Fprintln(tw, "NAME\tTYPE\tDEPLOYMENT\tREADY\tPACKAGES\tSYNCED\tADDRESS")
	now := time.Now()
	for _, r := range items {
		if withNamespace {
			fmt.Fprintf(tw, "%s\t", r.Namespace)
		}
		ready := "Unknown"
		if c := meta.FindStatusCondition(r.Status.Conditions, "Ready"); c != nil {
			ready = string(c.Status)
		}
		synced := "<never>"
		if r.Status.LastSyncTime != nil {
			synced = age(r.Status.LastSyncTime.Time, now)
		}
		address := r.Spec.Git.URL
		if u := r.Status.CloneURLs; u != nil {
			address = cmp.Or(u.SSH, u.HTTP)
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%d\t%s\t%s\n", r.Name, r.Spec.Type, r.Spec.Deployment, ready,
			r.Status.PackageCount, synced, address)
	}
	return tw.Flush()
}

func newRepoDeleteCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Unregister a repository: its revisions leave the index, its git is untouched",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			if err := c.DeleteRepository(cmd.Context(), cf.namespace, args[0]); err != nil {
				return remoteError(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "repository %s/%s deleted\n", cf.namespace, args[0])
			return nil
		},
	}
}

func newRepoSyncCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "sync NAME",
		Short: "Sync a repository with git now and wait for the outcome",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			r, err := c.SyncRepository(cmd.Context(), cf.namespace, args[0])
			if err != nil {
				return remoteError(err)
			}
			return reportSync(cmd.OutOrStdout(), r, "synced")
		},
	}
}
