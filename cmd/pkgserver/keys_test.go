package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pkgserver/pkgserver/internal/store/sqlstore"
)

// TestReplicasShareKeys: two servers started at once on one index, given
// one key file, both start; the index gets one admin token, written to the
// data directory of the server that made it, and it works on both; neither
// makes a key of its own. A key file that does not exist stops serve
// before it starts.
func TestReplicasShareKeys(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "secret.key")
	if err := os.WriteFile(keyFile, []byte(strings.Repeat("s", 32)), 0o400); err != nil {
		t.Fatal(err)
	}
	db := "sqlite://" + filepath.Join(dir, "index.db")
	root := newRoot()
	root.SetArgs([]string{"serve", "--data", t.TempDir(), "--database", db, "--keyring-file", filepath.Join(dir, "missing.key"), "--http", "127.0.0.1:0", "--ssh", ""})
	root.SetOut(io.Discard)
	root.SetErr(io.Discard)
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "missing.key") {
		t.Fatalf("serve with a missing key file: %v", err)
	}

	// The index exists before the servers start (two processes creating a
	// SQLite file at the same moment is not what this is about).
	if st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(dir, "index.db")); err != nil {
		t.Fatal(err)
	} else {
		st.Close()
	}
	ctx, cancel := context.WithCancel(context.Background())
	var addrs, dataDirs []string
	var done []chan error
	for range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		data := t.TempDir()
		addrs, dataDirs = append(addrs, addr), append(dataDirs, data)
		ch := make(chan error, 1)
		done = append(done, ch)
		go func() {
			root := newRoot()
			root.SetArgs([]string{"serve", "--data", data, "--database", db, "--keyring-file", keyFile, "--http", addr, "--ssh", ""})
			root.SetOut(io.Discard)
			root.SetErr(io.Discard)
			ch <- root.ExecuteContext(ctx)
		}()
	}
	defer func() {
		cancel()
		for _, ch := range done {
			if err := <-ch; err != nil {
				t.Errorf("serve: %v", err)
			}
		}
	}()
	get := func(addr, token string) int {
		req, _ := http.NewRequest("GET", "http://"+addr+"/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/default/repositories", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, addr := range addrs {
		for get(addr, "") != http.StatusUnauthorized {
			if time.Now().After(deadline) {
				for i, ch := range done {
					select {
					case err := <-ch:
						t.Errorf("server %d stopped: %v", i, err)
						ch <- err
					default:
					}
				}
				t.Fatalf("%s does not answer", addr)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	var token string
	for _, d := range dataDirs {
		if _, err := os.Stat(filepath.Join(d, "secret.key")); err == nil {
			t.Errorf("%s: a server made a key of its own", d)
		}
		if b, err := os.ReadFile(filepath.Join(d, adminTokenFile)); err == nil {
			if token != "" {
				t.Error("both servers wrote an admin token")
			}
			token = strings.TrimSpace(string(b))
		}
	}
	if token == "" {
		t.Fatal("no server wrote the admin token")
	}
	for _, addr := range addrs {
		if code := get(addr, token); code != http.StatusOK {
			t.Errorf("%s with the admin token: %d", addr, code)
		}
	}
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(dir, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if tokens, err := st.ListTokens(context.Background()); err != nil || len(tokens) != 1 {
		t.Errorf("tokens in the index: %+v, %v", tokens, err)
	}
}
