package benchutil

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
	"strconv"
	"sync"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
)

// RepositoriesPath is where the API keeps the default namespace's
// repositories.
const RepositoriesPath = "/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/default/repositories"

// Server is a running `pkgserver serve` whose log this process reads as
// it is written.
type Server struct {
	cmd *exec.Cmd
	// Base is http://HTTPAddr; SSHAddr is "" unless SSH was asked for.
	Base, HTTPAddr, SSHAddr string
	Token                   string
	HTTP                    *http.Client
	Log                     *Log
	done                    chan struct{}
}

// ServerOptions say how a server is started.
type ServerOptions struct {
	// SSH serves git over SSH too, on a free port.
	SSH bool
	// HTTP is the client of the API (nil: one with a minute's timeout).
	HTTP *http.Client
	// Database is the server's --database ("": SQLite in the data
	// directory); KeyringFile its --keyring-file ("": the default).
	Database, KeyringFile string
	// Token is the API token to use ("": the admin token the server
	// writes into its data directory, which only the first replica of a
	// database does).
	Token string
}

// FreeAddr is a loopback address nothing listens on.
func FreeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// StartServer starts `pkgserver serve` on a data directory, its log
// written to logPath and read as it comes, and waits until it is ready.
// A failure ends this process.
func StartServer(pkgserver, dataDir, logPath string, opt ServerOptions) *Server {
	s := &Server{HTTPAddr: FreeAddr(), Log: &Log{}, done: make(chan struct{}), HTTP: opt.HTTP}
	s.Base = "http://" + s.HTTPAddr
	if opt.SSH {
		s.SSHAddr = FreeAddr()
	}
	if s.HTTP == nil {
		s.HTTP = &http.Client{Timeout: time.Minute}
	}
	logf, err := os.Create(logPath)
	if err != nil {
		log.Fatal(err)
	}
	args := []string{"serve", "--data", dataDir, "--http", s.HTTPAddr, "--ssh", s.SSHAddr}
	if opt.Database != "" {
		args = append(args, "--database", opt.Database)
	}
	if opt.KeyringFile != "" {
		args = append(args, "--keyring-file", opt.KeyringFile)
	}
	s.cmd = exec.Command(pkgserver, args...)
	s.cmd.Stdout = logf
	// The server ends with this process, even when a failure ends it.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		log.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		log.Fatal(err)
	}
	go func() {
		defer close(s.done)
		defer logf.Close()
		s.Log.read(io.TeeReader(stderr, logf))
	}()
	if err := WaitReady(s.HTTP, s.Base, 60*time.Second); err != nil {
		s.Stop()
		log.Fatalf("%v (see %s)", err, logPath)
	}
	if s.Token = opt.Token; s.Token != "" {
		return s
	}
	if s.Token, err = AdminToken(dataDir); err != nil {
		s.Stop()
		log.Fatal(err)
	}
	return s
}

// Stop interrupts the server and waits for it to close its index.
func (s *Server) Stop() {
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

// Do sends one request with the admin token, its body encoded beforehand,
// and returns the status code, the answer and the wall time from sending
// the request to having read the whole answer.
func (s *Server) Do(method, path string, body []byte) (int, []byte, time.Duration, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, s.Base+path, rd)
	if err != nil {
		return 0, nil, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := s.HTTP.Do(req)
	if err != nil {
		return 0, nil, time.Since(start), err
	}
	b, err := io.ReadAll(resp.Body)
	took := time.Since(start)
	resp.Body.Close()
	return resp.StatusCode, b, took, err
}

// Call sends a request whose answer must have status want, and decodes
// the answer into into (unless nil).
func (s *Server) Call(method, path string, body any, want int, into any) (int, time.Duration, error) {
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return 0, 0, err
		}
	}
	code, answer, took, err := s.Do(method, path, b)
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

// Register registers a repository of the default namespace (its spec as
// the API takes it) and waits up to timeout for its first sync; it
// returns the time from the request to Ready and the package count the
// sync found. A failure stops the server and ends this process.
func (s *Server) Register(name string, spec map[string]any, timeout time.Duration) (time.Duration, int) {
	body := map[string]any{"metadata": map[string]any{"name": name}, "spec": spec}
	start := time.Now()
	if _, _, err := s.Call(http.MethodPost, RepositoriesPath, body, http.StatusCreated, nil); err != nil {
		s.Stop()
		log.Fatalf("register %s: %v", name, err)
	}
	for deadline := start.Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var r configv1alpha1.Repository
		if _, _, err := s.Call(http.MethodGet, RepositoriesPath+"/"+name, nil, http.StatusOK, &r); err != nil {
			s.Stop()
			log.Fatal(err)
		}
		ready := meta.FindStatusCondition(r.Status.Conditions, "Ready")
		if ready != nil && ready.Status == "True" && r.Status.LastSyncTime != nil {
			return time.Since(start), r.Status.PackageCount
		}
		if ready != nil && ready.Status == "False" {
			s.Stop()
			log.Fatalf("the first sync of %s failed: %s", name, ready.Message)
		}
	}
	s.Stop()
	log.Fatalf("%s did not sync within %s", name, timeout)
	return 0, 0
}

// Event is one line of the server's log (slog's text format).
type Event struct {
	Msg   string
	Attrs map[string]string
}

// Duration is an attribute read as a duration (0 if it is not one).
func (e Event) Duration(key string) time.Duration {
	d, _ := time.ParseDuration(e.Attrs[key])
	return d
}

// Int is an attribute read as an integer (0 if it is not one).
func (e Event) Int(key string) int {
	n, _ := strconv.Atoi(e.Attrs[key])
	return n
}

// Log holds the server's log lines read so far.
type Log struct {
	mu     sync.Mutex
	events []Event
}

func (l *Log) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		attrs := ParseLogLine(sc.Text())
		l.mu.Lock()
		l.events = append(l.events, Event{Msg: attrs["msg"], Attrs: attrs})
		l.mu.Unlock()
	}
}

// Mark is where the lines logged from now on start.
func (l *Log) Mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.events)
}

// Wait returns the first line from mark on with msg whose attributes have
// the values given (key, value, key, value…), waiting up to timeout for
// it.
func (l *Log) Wait(from int, msg string, timeout time.Duration, kv ...string) (Event, bool) {
	deadline := time.Now().Add(timeout)
	for {
		l.mu.Lock()
		for _, e := range l.events[from:] {
			ok := e.Msg == msg
			for i := 0; ok && i+1 < len(kv); i += 2 {
				ok = e.Attrs[kv[i]] == kv[i+1]
			}
			if ok {
				l.mu.Unlock()
				return e, true
			}
		}
		l.mu.Unlock()
		if time.Now().After(deadline) {
			return Event{}, false
		}
		time.Sleep(time.Millisecond)
	}
}

// Since returns the lines from mark on with msg.
func (l *Log) Since(from int, msg string) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Event
	for _, e := range l.events[from:] {
		if e.Msg == msg {
			out = append(out, e)
		}
	}
	return out
}
