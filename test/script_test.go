package test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/pkgserver/pkgserver/internal/testbin"
)

// binDir holds the pkgserver binary the scripts run, built once by TestMain
// from this checkout: the scripts exercise the real program.
var binDir string

func TestMain(m *testing.M) { testbin.Main(m.Run, &binDir, "pkgserver", "pkgserver-hook") }

// TestScripts runs the command-line scenarios of testdata/script.
func TestScripts(t *testing.T) {
	examples, err := filepath.Abs("../examples")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("PATH", binDir+string(os.PathListSeparator)+env.Getenv("PATH"))
			env.Setenv("EXAMPLES", examples)
			env.Setenv("PKGSERVER_BIN_DIR", binDir)
			// A server a script starts listens on a free port; the
			// client commands find it through the environment.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			addr := ln.Addr().String()
			ln.Close()
			env.Setenv("PKGSERVER_HTTP", addr)
			env.Setenv("PKGSERVER_SERVER", "http://"+addr)
			if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
				return err
			}
			env.Setenv("PKGSERVER_SSH", ln.Addr().String())
			ln.Close()
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitready": waitReady,
			"envfile":   envFile,
			"deliver":   deliver,
		},
	})
}

// waitReady waits up to 30 s for the server at $PKGSERVER_SERVER to answer
// /readyz.
func waitReady(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: waitready")
	}
	url := ts.Getenv("PKGSERVER_SERVER") + "/readyz"
	var last error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
	}
	ts.Fatalf("%s not ready after 30s: %v", url, last)
}

// envFile sets an environment variable to a file's content, trimmed.
func envFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: envfile NAME FILE")
	}
	ts.Setenv(args[0], strings.TrimSpace(ts.ReadFile(args[1])))
}

// deliver posts a webhook delivery as the forge would: deliver
// github|gitlab PATH SECRET EVENT ID FILE, the body signed with the secret
// (GitHub) or the secret as token (GitLab); the answer's status goes to
// stdout.
func deliver(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 6 {
		ts.Fatalf("usage: deliver github|gitlab PATH SECRET EVENT ID FILE")
	}
	forge, path, secret, event, id := args[0], args[1], args[2], args[3], args[4]
	body := []byte(ts.ReadFile(args[5]))
	req, err := http.NewRequest(http.MethodPost, ts.Getenv("PKGSERVER_SERVER")+path, bytes.NewReader(body))
	ts.Check(err)
	req.Header.Set("Content-Type", "application/json")
	switch forge {
	case "github":
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(body)
		req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
		req.Header.Set("X-GitHub-Event", event)
		req.Header.Set("X-GitHub-Delivery", id)
	case "gitlab":
		req.Header.Set("X-Gitlab-Token", secret)
		req.Header.Set("X-Gitlab-Event", event)
		req.Header.Set("X-Gitlab-Event-UUID", id)
	default:
		ts.Fatalf("unknown forge %q", forge)
	}
	resp, err := http.DefaultClient.Do(req)
	ts.Check(err)
	resp.Body.Close()
	fmt.Fprintf(ts.Stdout(), "%d\n", resp.StatusCode)
}
