package main

import (
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pkgserver/pkgserver/internal/client"
	"github.com/pkgserver/pkgserver/internal/server"
)

// defaultHTTPAddr is where serve listens unless told otherwise.
const defaultHTTPAddr = "127.0.0.1:7007"

// localServer is the URL of the server serve starts with the same
// environment: its --http address, over https if asked.
func localServer(https bool) string {
	return server.LocalURL(envOr("PKGSERVER_HTTP", defaultHTTPAddr), https)
}

// caFile is the certificate authority a client trusts besides the
// system's: the one given, else the CA of a self-signed certificate made in
// the data directory, else none.
func caFile(given, dataDir string) string {
	if given != "" {
		return given
	}
	if _, err := os.Stat(server.CAPath(dataDir)); err == nil {
		return server.CAPath(dataDir)
	}
	return ""
}

func newKubeconfigCmd() *cobra.Command {
	var (
		dataDir, serverURL, tokenFile, namespace, ca string
	)
	cmd := &cobra.Command{
		Use:   "kubeconfig",
		Short: "Print a kubeconfig for kubectl and client-go to reach the server",
		Long: `Print a kubeconfig (YAML) with which kubectl and client-go reach the server:
cluster, user and context "pkgserver", the context current. It names the
server's URL, the CA of its self-signed certificate (<data>/tls/ca.crt, made
by 'pkgserver serve --tls-self-signed'; none when the server's certificate is
from a CA the system trusts) and a token: --token-file, else PKGSERVER_TOKEN,
else the admin token in <data>/admin.token.

The output holds the token: whoever reads it acts with the token's role.
Keep it out of shared places, or hand out a read token
('pkgserver token create NAME --role read').

  KUBECONFIG=<(pkgserver kubeconfig) kubectl get packagerevisions
  (umask 077; pkgserver kubeconfig > ~/.kube/pkgserver)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if serverURL == "" {
				serverURL = localServer(true)
			}
			k := client.Kubeconfig{Server: serverURL, Namespace: namespace}
			tok, err := readToken(tokenFile, dataDir)
			if err != nil {
				return err
			}
			k.Token = tok
			if strings.HasPrefix(serverURL, "https://") {
				if path := caFile(ca, dataDir); path != "" {
					if k.CA, err = readCA(path); err != nil {
						return usageError("--certificate-authority: %v", err)
					}
				}
			}
			b, err := k.Marshal()
			if err != nil {
				return usageError("%v", err)
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dataDir, "data", envOr("PKGSERVER_DATA", ".pkgserver"), "data directory of a local server, for its CA and admin token (PKGSERVER_DATA)")
	fl.StringVar(&serverURL, "server", envOr("PKGSERVER_SERVER", ""), "URL of the server (PKGSERVER_SERVER; default https:// and serve's --http address, "+defaultHTTPAddr+" unless PKGSERVER_HTTP says otherwise)")
	fl.StringVar(&tokenFile, "token-file", "", "file holding the token (default PKGSERVER_TOKEN, else <data>/admin.token)")
	fl.StringVarP(&namespace, "namespace", "n", "default", "namespace of the context")
	fl.StringVar(&ca, "certificate-authority", envOr("PKGSERVER_CA", ""), "PEM file of the CA of the server's certificate (PKGSERVER_CA; default <data>/tls/ca.crt when present)")
	return cmd
}

// readToken reads the token a client presents: from the file given, else
// PKGSERVER_TOKEN, else the admin token of a local server.
func readToken(file, dataDir string) (string, error) {
	if file == "" {
		if tok := os.Getenv("PKGSERVER_TOKEN"); tok != "" {
			return tok, nil
		}
		file = filepath.Join(dataDir, adminTokenFile)
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) && file == filepath.Join(dataDir, adminTokenFile) {
		return "", usageError("no token: give --token-file or PKGSERVER_TOKEN, or run where the server's %s is readable", file)
	}
	if err != nil {
		return "", usageError("token: %v", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", usageError("token: %s is empty", file)
	}
	return tok, nil
}

// readCA reads a PEM file of CA certificates, refusing one that holds none.
func readCA(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if !x509.NewCertPool().AppendCertsFromPEM(b) {
		return nil, errors.New(path + ": no PEM certificate in it")
	}
	return b, nil
}
