package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"

	"github.com/pkgserver/pkgserver/internal/client"
)

// clientFlags say which server the client commands talk to and with which
// token: --server and --token, PKGSERVER_SERVER and PKGSERVER_TOKEN, else
// the local server and the admin token in its data directory.
type clientFlags struct {
	server    string
	token     string
	data      string
	namespace string
	output    string
	ca        string
}

func (f *clientFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&f.server, "server", envOr("PKGSERVER_SERVER", ""), "URL of the server (PKGSERVER_SERVER; default serve's --http address, "+defaultHTTPAddr+" unless PKGSERVER_HTTP says otherwise, over https when <data>/tls/ca.crt exists)")
	fs.StringVar(&f.ca, "certificate-authority", envOr("PKGSERVER_CA", ""), "PEM file of the CA of an https server's certificate (PKGSERVER_CA; default <data>/tls/ca.crt when present)")
	fs.StringVar(&f.token, "token", "", "API token (default PKGSERVER_TOKEN, else the admin token in --data)")
	fs.StringVar(&f.data, "data", envOr("PKGSERVER_DATA", ".pkgserver"), "data directory of a local server, for its admin token (PKGSERVER_DATA)")
	fs.StringVarP(&f.namespace, "namespace", "n", "default", "namespace")
}

func (f *clientFlags) addOutput(fs *pflag.FlagSet) {
	fs.StringVarP(&f.output, "output", "o", "table", "output format: table, json or yaml")
}

// checkOutput rejects an output format other than those offered.
func (f *clientFlags) checkOutput() error {
	switch f.output {
	case "table", "json", "yaml":
		return nil
	}
	return usageError("-o %s: want table, json or yaml", f.output)
}

// client returns a client of the server with the token found.
func (f *clientFlags) client() (*client.Client, error) {
	ca := caFile(f.ca, f.data)
	if f.server == "" {
		f.server = localServer(ca != "")
	}
	if !strings.HasPrefix(f.server, "http://") && !strings.HasPrefix(f.server, "https://") {
		return nil, usageError("--server %q: want an http:// or https:// URL", f.server)
	}
	tok := f.token
	if tok == "" {
		tok = os.Getenv("PKGSERVER_TOKEN")
	}
	if tok == "" {
		path := filepath.Join(f.data, adminTokenFile)
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, usageError("no token: give --token or PKGSERVER_TOKEN, or run where %s is readable (%v)", path, err)
		}
		tok = strings.TrimSpace(string(b))
	}
	c, err := client.Open(client.Options{Server: f.server, Token: tok, CAFile: ca})
	if err != nil {
		return nil, usageError("%v", err)
	}
	return c, nil
}

// remoteError turns what the server answered into the command's error: the
// server's message, with status 1.
func remoteError(err error) error {
	var ce *client.Error
	if errors.As(err, &ce) {
		msg := fmt.Sprintf("%s (%d %s)", ce.Status.Message, ce.Status.Code, ce.Status.Reason)
		if d := ce.Status.Details; d != nil {
			// The findings of a refused write, one a line.
			for _, c := range d.Causes {
				if !strings.Contains(msg, c.Message) {
					msg += "\n  " + c.Message
				}
			}
		}
		return &exitError{code: 1, err: errors.New(msg)}
	}
	return &exitError{code: 1, err: err}
}

// writeObject writes an object (or a List) as indented JSON or as YAML.
func writeObject(w io.Writer, output string, obj any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(obj); err != nil {
		return err
	}
	b := buf.Bytes()
	if output == "yaml" {
		var err error
		if b, err = yaml.JSONToYAML(b); err != nil {
			return err
		}
	}
	_, err := w.Write(b)
	return err
}

// age is how kubectl shows the time since t: 45s, 12m, 3h, 5d.
func age(t time.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "0s"
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < 2*time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
