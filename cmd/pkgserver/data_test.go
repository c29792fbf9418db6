package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pkgserver/pkgserver/internal/store/pgtest"
)

// pg is the PostgreSQL cluster of this test binary, started by the first
// test that needs it.
var pg pgtest.Cluster

func TestMain(m *testing.M) { os.Exit(pg.Main(m)) }

func TestOpenStoreRefusesOtherDatabases(t *testing.T) {
	for _, db := range []string{"mysql://admin:hunter2@db:3306/pkgserver", "mysql:admin:hunter2@db", "admin:hunter2@db"} {
		d := &dataFlags{dir: t.TempDir(), database: db}
		st, err := d.openStore(context.Background())
		if err == nil {
			st.Close()
			t.Fatalf("%s: opened", db)
		}
		msg := err.Error()
		if strings.Contains(msg, "hunter2") {
			t.Errorf("%s: the error shows the password: %s", db, msg)
		}
		for _, want := range []string{"postgres://", "postgresql://", "sqlite://"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: the error does not name %s: %s", db, want, msg)
			}
		}
	}
}

// TestOpenStorePostgresUnreachable: the error of a database that does not
// answer, or of a URL that does not parse, does not show the password.
func TestOpenStorePostgresUnreachable(t *testing.T) {
	for _, db := range []string{"postgres://admin:hunter2@127.0.0.1:1/pkgserver?connect_timeout=5", "postgresql://admin:hunter2@[::1/x"} {
		d := &dataFlags{dir: t.TempDir(), database: db}
		st, err := d.openStore(context.Background())
		if err == nil {
			st.Close()
			t.Fatalf("%s: opened", db)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error shows the password: %v", db, err)
		}
	}
}

func TestOpenStorePostgres(t *testing.T) {
	url := pg.Database(t)
	for _, db := range []string{url, "postgresql" + strings.TrimPrefix(url, "postgres")} {
		d := &dataFlags{dir: t.TempDir(), database: db}
		st, err := d.openStore(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", db, err)
		}
		if err := st.Ping(context.Background()); err != nil {
			t.Error(err)
		}
		st.Close()
	}
}

// TestServeReadyzPostgres: a server on PostgreSQL is ready while its
// database answers, and answers 503 with a short reason naming nothing of
// the database once it is gone.
func TestServeReadyzPostgres(t *testing.T) {
	url := pg.Database(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dataDir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		root := newRoot()
		root.SetArgs([]string{"serve", "--data", dataDir, "--database", url, "--http", addr, "--ssh", ""})
		root.SetOut(io.Discard)
		done <- root.ExecuteContext(ctx)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	readyz := func() (int, string) {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := readyz()
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz: %d %s", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The server's loops have read what they start with (the scheduler
	// stops the server if it cannot list the repositories at start).
	time.Sleep(2 * time.Second)
	pg.Drop(t, url)
	code, body := readyz()
	if code != http.StatusServiceUnavailable || body != "not ready: the database does not answer" {
		t.Errorf("/readyz with the database gone: %d %q", code, body)
	}
}
