package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/pkgserver/pkgserver/test/bench/benchutil"
)

// server is a running `pkgserver serve` whose log this process reads as it
// is written.
type server struct {
	cmd      *exec.Cmd
	httpAddr string
	sshAddr  string
	token    string
	http     *http.Client
	log      *serverLog
	done     chan struct{}
}

func startServer(pkgserver, dataDir, logPath string) *server {
	httpAddr, sshAddr := freeAddr(), freeAddr()
	logf, err := os.Create(logPath)
	if err != nil {
		log.Fatal(err)
	}
	cmd := exec.Command(pkgserver, "serve", "--data", dataDir, "--http", httpAddr, "--ssh", sshAddr)
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
	s := &server{cmd: cmd, httpAddr: httpAddr, sshAddr: sshAddr, log: &serverLog{}, done: make(chan struct{}),
		http: &http.Client{Timeout: time.Minute}}
	go func() {
		defer close(s.done)
		defer logf.Close()
		s.log.read(io.TeeReader(stderr, logf))
	}()
	if err := benchutil.WaitReady(s.http, "http://"+httpAddr, 60*time.Second); err != nil {
		log.Fatalf("%v (see %s)", err, logPath)
	}
	if s.token, err = benchutil.AdminToken(dataDir); err != nil {
		log.Fatal(err)
	}
	return s
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	<-s.done
	_ = s.cmd.Wait()
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// get decodes the JSON answer of a GET of the API.
func (s *server) get(path string, into any) error {
	req, err := http.NewRequest(http.MethodGet, "http://"+s.httpAddr+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(into)
}

// revision is what the benchmark reads of a PackageRevision.
type revision struct {
	Spec struct {
		PackageName   string `json:"packageName"`
		WorkspaceName string `json:"workspaceName"`
		Revision      string `json:"revision"`
		Lifecycle     string `json:"lifecycle"`
	} `json:"spec"`
}

// revisions lists one package's revisions in a repository.
func (s *server) revisions(repo, pkg string) ([]revision, error) {
	var l struct {
		Items []revision `json:"items"`
	}
	q := url.QueryEscape("spec.packageName=" + pkg + ",spec.repository=" + repo)
	err := s.get("/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions?fieldSelector="+q, &l)
	return l.Items, err
}

// packageCount is the repository's package count after its last sync.
func (s *server) packageCount(repo string) (int, error) {
	var r struct {
		Status struct {
			PackageCount int `json:"packageCount"`
		} `json:"status"`
	}
	err := s.get("/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/default/repositories/"+repo, &r)
	return r.Status.PackageCount, err
}

// event is one line of the server's log (slog's text format).
type event struct {
	seq   int
	msg   string
	attrs map[string]string
}

func (e event) duration(key string) time.Duration {
	d, _ := time.ParseDuration(e.attrs[key])
	return d
}

func (e event) int(key string) int {
	n, _ := strconv.Atoi(e.attrs[key])
	return n
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
		l.events = append(l.events, event{seq: len(l.events), msg: attrs["msg"], attrs: attrs})
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
			if e.msg != msg {
				continue
			}
			ok := true
			for i := 0; i+1 < len(kv); i += 2 {
				if e.attrs[kv[i]] != kv[i+1] {
					ok = false
				}
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
		time.Sleep(2 * time.Millisecond)
	}
}

// since returns the lines from mark on with msg.
func (l *serverLog) since(from int, msg string) []event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []event
	for _, e := range l.events[from:] {
		if e.msg == msg {
			out = append(out, e)
		}
	}
	return out
}
