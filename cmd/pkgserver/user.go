package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pkgserver/pkgserver/internal/auth"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
	"github.com/pkgserver/pkgserver/internal/store/sqlstore"
)

func newUserCmd() *cobra.Command {
	var data dataFlags
	cmd := &cobra.Command{Use: "user", Short: "Manage the git host's SSH users and their keys (in the data directory)"}
	data.add(cmd.PersistentFlags())
	cmd.AddCommand(newUserAddCmd(&data), newUserListCmd(&data), newUserRemoveCmd(&data))
	return cmd
}

func newUserAddCmd(data *dataFlags) *cobra.Command {
	var role, namespace string
	var keyFiles []string
	add := &cobra.Command{
		Use:   "add NAME --ssh-key FILE...",
		Short: "Add a user who reaches the git host over SSH with the keys given",
		Long: `Add a user of the built-in git host's SSH server, with the public keys of
--ssh-key (each an id_*.pub or authorized_keys file; repeat the flag for more
files) and one role in one namespace, or in all (*): read may fetch, write may
also push, admin may also move or delete published tags. A key identifies
exactly one user.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			r, err := auth.ParseRole(role)
			if err != nil {
				return usageError("--role: %v", err)
			}
			if namespace != store.AllNamespaces && !revision.IsLabel(namespace) {
				return usageError("--namespace %q: an RFC 1123 label, or * for all namespaces", namespace)
			}
			if !revision.IsLabel(name) {
				return usageError("user name %q: an RFC 1123 label", name)
			}
			if len(keyFiles) == 0 {
				return usageError("give the user's public keys with --ssh-key FILE")
			}
			keys, err := readSSHKeys(keyFiles)
			if err != nil {
				return err
			}
			return withStore(cmd.Context(), data, func(st *sqlstore.Store) error {
				u := &store.User{Name: name, Namespace: namespace, Role: r, Keys: keys, CreatedAt: time.Now().UTC()}
				if err := createUser(cmd.Context(), st, u); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), userAdded(u))
				return nil
			})
		},
	}
	add.Flags().StringArrayVar(&keyFiles, "ssh-key", nil, "file of public keys (id_*.pub or authorized_keys format); repeatable")
	add.Flags().StringVar(&role, "role", "read", "read, write or admin")
	add.Flags().StringVarP(&namespace, "namespace", "n", "default", "namespace the user may reach, or * for all")
	return add
}

// readSSHKeys reads the public keys of the files given with --ssh-key; a
// key given twice is refused.
func readSSHKeys(paths []string) ([]store.SSHKey, error) {
	var keys []store.SSHKey
	seen := map[string]string{}
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, usageError("--ssh-key: %v", err)
		}
		ks, err := auth.ParseAuthorizedKeys(b)
		if err != nil {
			return nil, usageError("--ssh-key %s: %v", path, err)
		}
		for _, k := range ks {
			if prev, ok := seen[k.Fingerprint]; ok {
				return nil, usageError("--ssh-key %s: key %s given twice (also in %s)", path, k.Fingerprint, prev)
			}
			seen[k.Fingerprint] = path
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// createUser adds a user to the index; a user refused is told why, with
// the user a key already identifies.
func createUser(ctx context.Context, st store.Users, u *store.User) error {
	err := st.CreateUser(ctx, u)
	if err == nil {
		return nil
	}
	if !errors.Is(err, store.ErrExists) {
		return usageError("user %s not added: %v", u.Name, err)
	}
	// Say whose key it is: the store only says that one is taken.
	for _, k := range u.Keys {
		if other, err := st.UserByKey(ctx, k.Fingerprint); err == nil {
			return usageError("user %s not added: ssh key %s is already user %s's (a key identifies one user)",
				u.Name, k.Fingerprint, other.Name)
		}
	}
	return usageError("user %s already exists", u.Name)
}

// userAdded tells what a user was added with.
func userAdded(u *store.User) string {
	fps := make([]string, len(u.Keys))
	for i, k := range u.Keys {
		fps[i] = k.Fingerprint
	}
	where := "in namespace " + u.Namespace
	if u.Namespace == store.AllNamespaces {
		where = "in all namespaces"
	}
	noun := "keys"
	if len(u.Keys) == 1 {
		noun = "key"
	}
	return fmt.Sprintf("user %s added with %d %s (%s), role %s %s",
		u.Name, len(u.Keys), noun, strings.Join(fps, ", "), u.Role, where)
}

func newUserListCmd(data *dataFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the users, their grants and their keys' fingerprints",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd.Context(), data, func(st *sqlstore.Store) error {
				users, err := st.ListUsers(cmd.Context())
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 3, ' ', 0)
				fmt.Fprintln(tw, "NAME\tNAMESPACE\tROLE\tKEYS\tCREATED")
				for _, u := range users {
					fps := make([]string, len(u.Keys))
					for i, k := range u.Keys {
						fps[i] = k.Fingerprint
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Name, u.Namespace, u.Role, strings.Join(fps, ","), u.CreatedAt.Format(time.RFC3339))
				}
				return tw.Flush()
			})
		},
	}
}

func newUserRemoveCmd(data *dataFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove a user and its keys (a running server refuses them within seconds)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd.Context(), data, func(st *sqlstore.Store) error {
				if err := st.DeleteUser(cmd.Context(), args[0]); err != nil {
					return usageError("%v", err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "user %s removed\n", args[0])
				return nil
			})
		},
	}
}
