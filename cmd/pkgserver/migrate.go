package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/store"
	"github.com/pkgserver/pkgserver/internal/store/sqlstore"
)

func newMigrateCmd() *cobra.Command {
	var data dataFlags
	var to string
	cmd := &cobra.Command{
		Use:   "migrate --to DATABASE",
		Short: "Copy the repositories, users, tokens, secrets and field managers of an index into another database",
		Long: `Copy what an index holds that git does not, from the index of --data and
--database (the source) into the database --to (postgres://..., or
sqlite://PATH): the registered repositories (their specs; their status comes
back with their next sync), the git host's users with their SSH keys, the API
tokens (their hashes), the stored secrets and the field managers server-side
apply recorded for package revisions. Secrets are copied sealed: the servers
on the new database need the source's key, <data>/secret.key, through
--keyring-file.

Then rebuild the package revisions from git into the new database with
'pkgserver reindex --database DATABASE', the hosted repositories (<data>/repos)
where the new servers find them. Package revisions, events, webhook
deliveries and checks are not copied: revisions come from git, the others
pass. What the target already holds under the same name is left as it is and
reported, so the command can run again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if to == "" {
				return usageError("--to: the database to copy into is required")
			}
			ctx := cmd.Context()
			src, err := data.openStore(ctx)
			if err != nil {
				return usageError("%v", err)
			}
			defer src.Close()
			target := dataFlags{dir: data.dir, database: to}
			dst, err := target.openStore(ctx)
			if err != nil {
				return usageError("--to: %v", err)
			}
			defer dst.Close()
			if err := migrate(ctx, src, dst, cmd.OutOrStdout()); err != nil {
				return &exitError{code: 1, err: err}
			}
			return nil
		},
	}
	data.add(cmd.Flags())
	cmd.Flags().StringVar(&to, "to", "", "the database to copy into: postgres://USER:PASSWORD@HOST:PORT/DATABASE (or postgresql://...), sqlite://PATH")
	return cmd
}

// migrate copies repositories, users, tokens and secrets from src to dst,
// leaving what dst holds under the same names, and prints what it did.
func migrate(ctx context.Context, src, dst *sqlstore.Store, out io.Writer) error {
	var copied, kept int
	tally := func(what, name string, err error) error {
		switch {
		case err == nil:
			copied++
			return nil
		case errors.Is(err, store.ErrExists):
			kept++
			fmt.Fprintf(out, "%s %s: already in the target, left as it is\n", what, name)
			return nil
		}
		return fmt.Errorf("%s %s: %w", what, name, err)
	}
	repos, err := src.ListRepositories(ctx, "")
	if err != nil {
		return err
	}
	for _, r := range repos {
		obj := r.Object
		obj.ResourceVersion, obj.Status = "", configv1alpha1.RepositoryStatus{}
		if err := tally("repository", obj.Namespace+"/"+obj.Name, dst.CreateRepository(ctx, &store.Repository{Object: obj})); err != nil {
			return err
		}
	}
	users, err := src.ListUsers(ctx)
	if err != nil {
		return err
	}
	for _, u := range users {
		if err := tally("user", u.Name, dst.CreateUser(ctx, &u)); err != nil {
			return err
		}
	}
	tokens, err := src.ListTokens(ctx)
	if err != nil {
		return err
	}
	for _, t := range tokens {
		if err := tally("token", t.Name, dst.CreateToken(ctx, &t)); err != nil {
			return err
		}
	}
	secrets, err := migrateSecrets(ctx, src, dst, tally)
	if err != nil {
		return err
	}
	managers, err := migrateManagedFields(ctx, src, dst, tally)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%d copied, %d already there (of %d repositories, %d users, %d tokens, %d secrets, %d objects' field managers); now: pkgserver reindex --database ...\n",
		copied, kept, len(repos), len(users), len(tokens), secrets, managers)
	return nil
}

// migrateManagedFields copies the field managers of package revisions and
// their resources (server-side apply's record of who set which label or
// annotation); the reindex that follows drops those of revisions git no
// longer has. It returns how many objects' managers the source holds.
func migrateManagedFields(ctx context.Context, src, dst *sqlstore.Store, tally func(what, name string, err error) error) (int, error) {
	all, err := src.ListManagedFields(ctx)
	if err != nil {
		return 0, err
	}
	for _, m := range all {
		name := m.Resource + " " + m.Namespace + "/" + m.Name
		_, err := dst.ManagedFields(ctx, m.Namespace, m.Resource, m.Name)
		switch {
		case err == nil:
			err = store.ErrExists
		case errors.Is(err, store.ErrNotFound):
			err = dst.SetManagedFields(ctx, &m)
		}
		if err := tally("field managers of", name, err); err != nil {
			return 0, err
		}
	}
	return len(all), nil
}

// migrateSecrets copies the sealed secrets; one the target holds already
// is kept. It returns how many the source holds.
func migrateSecrets(ctx context.Context, src, dst *sqlstore.Store, tally func(what, name string, err error) error) (int, error) {
	refs, err := src.ListSecrets(ctx)
	if err != nil {
		return 0, err
	}
	for _, ref := range refs {
		name := ref.Namespace + "/" + ref.Name
		if _, err := dst.GetSecret(ctx, ref.Namespace, ref.Name); err == nil {
			if err := tally("secret", name, store.ErrExists); err != nil {
				return 0, err
			}
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return 0, fmt.Errorf("secret %s: %w", name, err)
		}
		sealed, err := src.GetSecret(ctx, ref.Namespace, ref.Name)
		if err != nil {
			return 0, fmt.Errorf("secret %s: %w", name, err)
		}
		if err := tally("secret", name, dst.PutSecret(ctx, ref.Namespace, ref.Name, sealed)); err != nil {
			return 0, err
		}
	}
	return len(refs), nil
}
