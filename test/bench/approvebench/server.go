package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/test/bench/benchutil"
)

const (
	repositoriesPath = "/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/default/repositories"
	revisionsPath    = "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions"
	resourcesPath    = "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisionresources"
)

// server is a running `pkgserver serve` whose log this process reads as it
// is written.
type server struct {
	cmd   *exec.Cmd
	base  string // http://host:port
	token string
	http  *http.Client
	log   *serverLog
	done  chan struct{}
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
	cmd.Stdout = logf
	// The server ends with this process, even when a failure ends it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		log.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	// One keep-alive connection, as a client such as kpt or a controller
	// would hold.
	s := &server{cmd: cmd, base: "http://" + addr, log: &serverLog{}, done: make(chan struct{}),
		http: &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}}
	go func() {
		defer close(s.done)
		defer logf.Close()
		s.log.read(io.TeeReader(stderr, logf))
	}()
	if err := benchutil.WaitReady(s.http, s.base, 60*time.Second); err != nil {
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
	select {
	case <-s.done:
	case <-time.After(60 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		log.Printf("the server did not stop within 60 s; killed")
	}
	_ = s.cmd.Wait()
}

// do sends one request, its body encoded beforehand, and returns the
// status code, the answer and the wall time from sending the request to
// having read the whole answer.
func (s *server) do(method, path string, body []byte) (int, []byte, time.Duration, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		return 0, nil, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, nil, time.Since(start), err
	}
	b, err := io.ReadAll(resp.Body)
	took := time.Since(start)
	resp.Body.Close()
	return resp.StatusCode, b, took, err
}

// call sends a request whose answer must have status want, and decodes the
// answer into into.
func (s *server) call(method, path string, body any, want int, into any) (int, time.Duration, error) {
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return 0, 0, err
		}
	}
	code, answer, took, err := s.do(method, path, b)
	if err != nil {
		return code, took, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if code != want {
		return code, took, fmt.Errorf("%s %s: %d %s", method, path, code, bytes.TrimSpace(answer))
	}
	if into != nil {
		if err := json.Unmarshal(answer, into); err != nil {
			return code, took, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return code, took, nil
}

// register registers a bare repository by its local path and waits for
// its first sync; it returns the time from the request to Ready and the
// package count the sync found.
func (s *server) register(name, gitDir string) (time.Duration, int) {
	body := map[string]any{
		"metadata": map[string]any{"name": name},
		"spec":     map[string]any{"git": map[string]any{"url": gitDir}},
	}
	start := time.Now()
	if _, _, err := s.call(http.MethodPost, repositoriesPath, body, http.StatusCreated, nil); err != nil {
		s.stop()
		log.Fatalf("register %s: %v", name, err)
	}
	for deadline := start.Add(5 * time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var r configv1alpha1.Repository
		if _, _, err := s.call(http.MethodGet, repositoriesPath+"/"+name, nil, http.StatusOK, &r); err != nil {
			s.stop()
			log.Fatal(err)
		}
		ready := meta.FindStatusCondition(r.Status.Conditions, "Ready")
		if ready != nil && ready.Status == "True" && r.Status.LastSyncTime != nil {
			return time.Since(start), r.Status.PackageCount
		}
		if ready != nil && ready.Status == "False" {
			s.stop()
			log.Fatalf("the first sync of %s failed: %s", name, ready.Message)
		}
	}
	s.stop()
	log.Fatalf("%s did not sync within 5 minutes", name)
	return 0, 0
}

// event is one line of the server's log (slog's text format).
type event struct {
	msg   string
	attrs map[string]string
}

func (e event) duration(key string) time.Duration {
	d, _ := time.ParseDuration(e.attrs[key])
	return d
}

// serverLog holds the server's log lines read so far.
type serverLog struct {
	mu     sync.Mutex
	events []event
}

func (l *serverLog) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		attrs := benchutil.ParseLogLine(sc.Text())
		l.mu.Lock()
		l.events = append(l.events, event{msg: attrs["msg"], attrs: attrs})
		l.mu.Unlock()
	}
}

// mark is where the lines logged from now on start.
func (l *serverLog) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.events)
}

// wait returns the first line from mark on with msg whose attributes have
// the values given, waiting up to timeout for it.
func (l *serverLog) wait(from int, msg string, timeout time.Duration, kv ...string) (event, bool) {
	deadline := time.Now().Add(timeout)
	for {
		l.mu.Lock()
		for _, e := range l.events[from:] {
			ok := e.msg == msg
			for i := 0; ok && i+1 < len(kv); i += 2 {
				ok = e.attrs[kv[i]] == kv[i+1]
			}
			if ok {
				l.mu.Unlock()
				return e, true
			}
		}
		l.mu.Unlock()
		if time.Now().After(deadline) {
			return event{}, false
		}
		time.Sleep(time.Millisecond)
	}
}
