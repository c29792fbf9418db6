package test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// binDir holds the pkgserver binary the scripts run, built once by TestMain
// from this checkout: the scripts exercise the real program.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pkgserver-bin-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	for _, name := range []string{"pkgserver", "pkgserver-hook"} {
		build := exec.Command("go", "build", "-o", filepath.Join(dir, name), "../cmd/"+name)
		build.Stdout, build.Stderr = os.Stdout, os.Stderr
		if err := build.Run(); err != nil {
			os.RemoveAll(dir)
			panic("build " + name + ": " + err.Error())
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

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
