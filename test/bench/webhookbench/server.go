package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/test/bench/benchutil"
)

const repositoriesPath = "/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/default/repositories"

// server is a `pkgserver serve` child process.
type server struct {
	cmd   *exec.Cmd
	host  string
	token string
	log   string
}

// setSecret stores the webhook secret the repository will name.
func setSecret(pkgserver, dataDir, name, secret string) {
	f := filepath.Join(dataDir, "..", name+".secret")
	if err := os.WriteFile(f, []byte(secret), 0o600); err != nil {
		log.Fatal(err)
	}
	out, err := exec.Command(pkgserver, "secret", "set", name, "--token-file", f, "--data", dataDir).CombinedOutput()
	if err != nil {
		log.Fatalf("secret set: %v\n%s", err, out)
	}
}

func startServer(pkgserver, dataDir, logPath string) *server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	logf, err := os.Create(logPath)
	if err != nil {
		log.Fatal(err)
	}
	cmd := exec.Command(pkgserver, "serve", "--data", dataDir, "--http", addr, "--ssh", "")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	logf.Close()
	s := &server{cmd: cmd, host: addr, log: logPath}
	if err := benchutil.WaitReady(http.DefaultClient, "http://"+addr, 60*time.Second); err != nil {
		s.stop()
		log.Fatalf("%v (see %s)", err, logPath)
	}
	if s.token, err = benchutil.AdminToken(dataDir); err != nil {
		s.stop()
		log.Fatal(err)
	}
	return s
}

// stop interrupts the server and waits for it to close its index.
func (s *server) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
		log.Printf("the server did not stop within 60 s; killed")
	}
}

func (s *server) call(method, path string, body any, into any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+s.host+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if into != nil {
		return resp.StatusCode, json.Unmarshal(b, into)
	}
	return resp.StatusCode, nil
}

// register creates the github repository the deliveries are for and
// waits for its first sync, so that the pushes find it indexed.
func (s *server) register(name, gitURL, secretName, apiURL string) {
	body := map[string]any{
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{
			"provider":      "github",
			"git":           map[string]any{"url": gitURL},
			"webhookSecret": secretName,
			"github":        map[string]any{"owner": "acme", "repo": "blueprints", "baseURL": apiURL},
		},
	}
	if _, err := s.call(http.MethodPost, repositoriesPath, body, nil); err != nil {
		s.stop()
		log.Fatalf("register the repository: %v", err)
	}
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var r configv1alpha1.Repository
		if _, err := s.call(http.MethodGet, repositoriesPath+"/"+name, nil, &r); err != nil {
			s.stop()
			log.Fatal(err)
		}
		ready := meta.FindStatusCondition(r.Status.Conditions, "Ready")
		if ready != nil && ready.Status == "True" && r.Status.LastSyncTime != nil {
			return
		}
		if ready != nil && ready.Status == "False" {
			s.stop()
			log.Fatalf("the first sync failed: %s", ready.Message)
		}
	}
	s.stop()
	log.Fatal("the repository did not sync within 2 minutes")
}
