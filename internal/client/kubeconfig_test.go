package client_test

import (
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/pkgserver/pkgserver/internal/client"
)

const testCA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

// TestKubeconfigLoads reads what Marshal writes as kubectl does, with
// client-go's clientcmd.
func TestKubeconfigLoads(t *testing.T) {
	tests := []struct {
		name   string
		k      client.Kubeconfig
		wantNS string
	}{
		{name: "self-signed", k: client.Kubeconfig{Server: "https://127.0.0.1:7007", CA: []byte(testCA), Token: "pks_secret", Namespace: "team-a"}, wantNS: "team-a"},
		{name: "public CA, default namespace", k: client.Kubeconfig{Server: "https://pkg.example.com", Token: "pks_secret"}, wantNS: "default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.k.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if tt.k.CA == nil && strings.Contains(string(b), "certificate-authority") {
				t.Errorf("a certificate authority written without one:\n%s", b)
			}
			raw, err := clientcmd.Load(b)
			if err != nil {
				t.Fatal(err)
			}
			if raw.CurrentContext != "pkgserver" {
				t.Errorf("current context %q", raw.CurrentContext)
			}
			cc := clientcmd.NewDefaultClientConfig(*raw, nil)
			cfg, err := cc.ClientConfig()
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Host != tt.k.Server || cfg.BearerToken != "pks_secret" || string(cfg.CAData) != string(tt.k.CA) {
				t.Errorf("host %q, token %q, CA %q", cfg.Host, cfg.BearerToken, cfg.CAData)
			}
			ns, _, err := cc.Namespace()
			if err != nil || ns != tt.wantNS {
				t.Errorf("namespace %q, %v; want %q", ns, err, tt.wantNS)
			}
		})
	}
}

func TestKubeconfigRefuses(t *testing.T) {
	for _, k := range []client.Kubeconfig{
		{Server: "127.0.0.1:7007", Token: "pks_secret"},
		{Server: "ftp://127.0.0.1", Token: "pks_secret"},
		{Server: "https://127.0.0.1:7007"},
	} {
		if b, err := k.Marshal(); err == nil {
			t.Errorf("%+v: wrote\n%s", k, b)
		}
	}
}
