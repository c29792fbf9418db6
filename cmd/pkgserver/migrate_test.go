package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/store"
	"github.com/pkgserver/pkgserver/internal/store/sqlstore"
)

// TestMigrate: an installation on SQLite moves to another database as a
// user would: migrate copies its repository, user, token and secret, a
// second run changes nothing, and reindex then builds the revisions from
// git; to a SQLite file and to PostgreSQL.
func TestMigrate(t *testing.T) {
	ctx := context.Background()
	work := gittest.New(t)
	work.Write(map[string]string{"nginx/Kptfile": "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: nginx\n"})
	work.Commit("nginx")
	work.Git("tag", "nginx/v1")

	dataDir := t.TempDir()
	src, err := sqlstore.OpenSQLite(ctx, filepath.Join(dataDir, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	repo := &store.Repository{Object: configv1alpha1.Repository{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "blueprints",
		Labels: map[string]string{"team": "platform"}},
		Spec: configv1alpha1.RepositorySpec{Provider: configv1alpha1.ProviderGit, Git: configv1alpha1.GitSpec{URL: work.Dir}}}}
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	user := &store.User{Name: "alice", Namespace: "default", Role: store.RoleWrite, CreatedAt: time.Unix(1700000000, 0).UTC(),
		Keys: []store.SSHKey{{Fingerprint: ssh.FingerprintSHA256(key), AuthorizedKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))), Comment: "laptop"}}}
	token := &store.Token{Name: "ci", Hash: strings.Repeat("ab", 32), Namespace: "default", Role: store.RoleRead, CreatedAt: time.Unix(1700000000, 0).UTC()}
	for _, err := range []error{src.CreateRepository(ctx, repo), src.CreateUser(ctx, user), src.CreateToken(ctx, token),
		src.PutSecret(ctx, "default", "git", []byte("sealed bytes"))} {
		if err != nil {
			t.Fatal(err)
		}
	}
	src.Close()
	// Field managers of a revision git has, and of one it no longer has.
	if out, err := runCLI("reindex", "--data", dataDir); err != nil {
		t.Fatalf("reindex the source: %v\n%s", err, out)
	}
	src, err = sqlstore.OpenSQLite(ctx, filepath.Join(dataDir, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	revs, err := src.ListRevisions(ctx, store.ListOptions{Namespace: "default"})
	if err != nil || len(revs.Items) == 0 {
		t.Fatalf("revisions of the source: %+v, %v", revs, err)
	}
	v1 := revs.Items[0].Name
	fields := `[{"manager":"kubectl","operation":"Apply","apiVersion":"porch.kpt.dev/v1alpha1","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{"f:tier":{}}}}}]`
	for _, name := range []string{v1, "blueprints.gone.v9"} {
		if err := src.SetManagedFields(ctx, &store.ManagedFields{Namespace: "default", Resource: "packagerevisions", Name: name,
			Repository: "blueprints", Fields: []byte(fields)}); err != nil {
			t.Fatal(err)
		}
	}
	src.Close()

	for _, target := range []string{"sqlite", "postgres"} {
		t.Run(target, func(t *testing.T) {
			to := "sqlite://" + filepath.Join(t.TempDir(), "new.db")
			if target == "postgres" {
				to = pg.Database(t)
			}
			out, err := runCLI("migrate", "--data", dataDir, "--to", to)
			if err != nil || !strings.Contains(out, "6 copied, 0 already there") {
				t.Fatalf("migrate: %v\n%s", err, out)
			}
			out, err = runCLI("migrate", "--data", dataDir, "--to", to)
			if err != nil || !strings.Contains(out, "0 copied, 6 already there") || strings.Count(out, "already in the target") != 6 {
				t.Fatalf("migrate again: %v\n%s", err, out)
			}
			if out, err := runCLI("reindex", "--data", dataDir, "--database", to); err != nil {
				t.Fatalf("reindex: %v\n%s", err, out)
			}
			dst := (&dataFlags{dir: dataDir, database: to})
			st, err := dst.openStore(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			got, err := st.GetRepository(ctx, "default", "blueprints")
			if err != nil || got.Object.Spec.Git.URL != work.Dir || got.Object.Labels["team"] != "platform" || got.Object.UID != repo.Object.UID {
				t.Errorf("repository: %+v, %v", got, err)
			}
			users, err := st.ListUsers(ctx)
			if err != nil || len(users) != 1 || users[0].Name != "alice" || len(users[0].Keys) != 1 || users[0].Keys[0] != user.Keys[0] {
				t.Errorf("users: %+v, %v", users, err)
			}
			if tok, err := st.TokenByHash(ctx, token.Hash); err != nil || tok.Name != "ci" || tok.Role != store.RoleRead {
				t.Errorf("token: %+v, %v", tok, err)
			}
			if sealed, err := st.GetSecret(ctx, "default", "git"); err != nil || string(sealed) != "sealed bytes" {
				t.Errorf("secret: %q, %v", sealed, err)
			}
			revs, err := st.ListRevisions(ctx, store.ListOptions{Namespace: "default"})
			if err != nil || !slices.ContainsFunc(revs.Items, func(r store.Revision) bool { return r.Revision.Revision == "v1" }) {
				t.Errorf("revisions after reindex: %+v, %v", revs, err)
			}
			if m, err := st.ManagedFields(ctx, "default", "packagerevisions", v1); err != nil || string(m.Fields) != fields || m.Repository != "blueprints" {
				t.Errorf("field managers of %s: %+v, %v", v1, m, err)
			}
			if _, err := st.ManagedFields(ctx, "default", "packagerevisions", "blueprints.gone.v9"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("field managers of a revision git does not have, after reindex: %v", err)
			}
		})
	}
}
