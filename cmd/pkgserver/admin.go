package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pkgserver/pkgserver/internal/auth"
	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
	"github.com/pkgserver/pkgserver/internal/store/sqlstore"
)

// withStore runs fn with the data directory's index, for the commands that
// administer it directly.
func withStore(ctx context.Context, data *dataFlags, fn func(*sqlstore.Store) error) error {
	st, err := data.openStore(ctx)
	if err != nil {
		return usageError("%v", err)
	}
	defer st.Close()
	return fn(st)
}

func newTokenCmd() *cobra.Command {
	var data dataFlags
	cmd := &cobra.Command{Use: "token", Short: "Manage API tokens (in the data directory)"}
	data.add(cmd.PersistentFlags())

	var role, namespace string
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a token and print it: it is shown this once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := auth.ParseRole(role)
			if err != nil {
				return usageError("--role: %v", err)
			}
			if namespace != store.AllNamespaces && !revision.IsLabel(namespace) {
				return usageError("--namespace %q: an RFC 1123 label, or * for all namespaces", namespace)
			}
			if !revision.IsLabel(args[0]) {
				return usageError("token name %q: an RFC 1123 label", args[0])
			}
			tok, hash, err := auth.NewToken()
			if err != nil {
				return err
			}
			return withStore(cmd.Context(), &data, func(st *sqlstore.Store) error {
				if err := st.CreateToken(cmd.Context(), &store.Token{Name: args[0], Hash: hash, Namespace: namespace,
					Role: r, CreatedAt: time.Now().UTC()}); err != nil {
					return usageError("%v", err)
				}
				fmt.Fprintln(cmd.OutOrStdout(), tok)
				return nil
			})
		},
	}
	create.Flags().StringVar(&role, "role", "read", "read, write or admin")
	create.Flags().StringVarP(&namespace, "namespace", "n", "default", "namespace the token is valid in, or * for all")

	list := &cobra.Command{
		Use:   "list",
		Short: "List the tokens (names and grants, never the tokens)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd.Context(), &data, func(st *sqlstore.Store) error {
				tokens, err := st.ListTokens(cmd.Context())
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 3, ' ', 0)
				fmt.Fprintln(tw, "NAME\tNAMESPACE\tROLE\tCREATED")
				for _, t := range tokens {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Name, t.Namespace, t.Role, t.CreatedAt.Format(time.RFC3339))
				}
				return tw.Flush()
			})
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke a token (a running server stops accepting it within seconds)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd.Context(), &data, func(st *sqlstore.Store) error {
				if err := st.DeleteToken(cmd.Context(), args[0]); err != nil {
					return usageError("%v", err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "token %s revoked\n", args[0])
				return nil
			})
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func newSecretCmd() *cobra.Command {
	var data dataFlags
	cmd := &cobra.Command{Use: "secret", Short: "Manage git credentials, encrypted in the data directory"}
	data.add(cmd.PersistentFlags())
	cmd.AddCommand(newSecretSetCmd(&data), newSecretListCmd(&data), newSecretDeleteCmd(&data))
	return cmd
}

func newSecretSetCmd(data *dataFlags) *cobra.Command {
	var namespace string
	var cf credentialFlags
	var keyring keyFlags
	set := &cobra.Command{
		Use:   "set NAME",
		Short: "Store credentials for repositories to name (spec.git.credentials)",
		Long: `Store credentials for repositories to name in spec.git.credentials: a token
(--token-file), a user and password (--username, --password-file), or an SSH
key with the host keys to accept (--ssh-key, --known-hosts). They are
encrypted with a key kept in the data directory, or given by --keyring-file;
files keep secrets off the command line.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !revision.IsLabel(args[0]) || !revision.IsLabel(namespace) {
				return usageError("secret names and namespaces are RFC 1123 labels")
			}
			c, err := cf.credentials()
			if err != nil {
				return err
			}
			keys, err := keyring.load(data.dir)
			if err != nil {
				return usageError("%v", err)
			}
			sealed, err := keys.Seal(namespace, args[0], c)
			if err != nil {
				return err
			}
			return withStore(cmd.Context(), data, func(st *sqlstore.Store) error {
				if err := st.PutSecret(cmd.Context(), namespace, args[0], sealed); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "secret %s/%s stored\n", namespace, args[0])
				return nil
			})
		},
	}
	f := set.Flags()
	keyring.add(f)
	f.StringVarP(&namespace, "namespace", "n", "default", "namespace of the repositories that may use it")
	f.StringVar(&cf.tokenFile, "token-file", "", "file holding an access token")
	f.StringVar(&cf.username, "username", "", "user name, with --password-file (or a token)")
	f.StringVar(&cf.passwordFile, "password-file", "", "file holding a password")
	f.StringVar(&cf.sshKey, "ssh-key", "", "file holding an SSH private key")
	f.StringVar(&cf.knownHosts, "known-hosts", "", "known_hosts file with the server's host keys, with --ssh-key")
	return set
}

// credentialFlags are the flags of `secret set` that give the
// credentials, in files that keep them off the command line.
type credentialFlags struct {
	tokenFile, username, passwordFile, sshKey, knownHosts string
}

// credentials reads the credentials the flags give: exactly one of a
// token, a user and password, or an SSH key with the host keys to accept.
func (f *credentialFlags) credentials() (gitrepo.Credentials, error) {
	var c gitrepo.Credentials
	kinds := 0
	if f.tokenFile != "" {
		kinds++
		b, err := readFlagFile(f.tokenFile)
		if err != nil {
			return c, err
		}
		c.Token = strings.TrimSpace(string(b))
		c.Username = f.username
	}
	if f.passwordFile != "" {
		kinds++
		b, err := readFlagFile(f.passwordFile)
		if err != nil {
			return c, err
		}
		if f.username == "" {
			return c, usageError("--password-file needs --username")
		}
		c.Username, c.Password = f.username, strings.TrimRight(string(b), "\r\n")
	}
	if f.sshKey != "" {
		kinds++
		b, err := readFlagFile(f.sshKey)
		if err != nil {
			return c, err
		}
		if f.knownHosts == "" {
			return c, usageError("--ssh-key needs --known-hosts: the server's host keys to accept")
		}
		h, err := readFlagFile(f.knownHosts)
		if err != nil {
			return c, err
		}
		c.SSHKey, c.KnownHosts = b, h
	}
	if kinds != 1 {
		return c, usageError("give exactly one of --token-file, --password-file (with --username) or --ssh-key")
	}
	return c, nil
}

// readFlagFile reads a file a flag names; a file that cannot be read is
// the user's error.
func readFlagFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usageError("%v", err)
	}
	return b, nil
}

func newSecretListCmd(data *dataFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List stored secrets (names only)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd.Context(), data, func(st *sqlstore.Store) error {
				refs, err := st.ListSecrets(cmd.Context())
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 3, ' ', 0)
				fmt.Fprintln(tw, "NAMESPACE\tNAME\tUPDATED")
				for _, r := range refs {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Namespace, r.Name, r.UpdatedAt.Format(time.RFC3339))
				}
				return tw.Flush()
			})
		},
	}
}

func newSecretDeleteCmd(data *dataFlags) *cobra.Command {
	var namespace string
	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a secret",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd.Context(), data, func(st *sqlstore.Store) error {
				if err := st.DeleteSecret(cmd.Context(), namespace, args[0]); err != nil {
					return usageError("%v", err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "secret %s/%s deleted\n", namespace, args[0])
				return nil
			})
		},
	}
	del.Flags().StringVarP(&namespace, "namespace", "n", "default", "namespace of the secret")
	return del
}
