package client

import (
	"fmt"

	clientcmdv1 "k8s.io/client-go/tools/clientcmd/api/v1"
	"sigs.k8s.io/yaml"
)

// KubeconfigName names the cluster, user and context of a kubeconfig for
// pkgserver.
const KubeconfigName = "pkgserver"

// Kubeconfig is what kubectl and client-go need to reach a server.
type Kubeconfig struct {
	// Server is the server's URL.
	Server string
	// CA is the PEM certificate authority the server's certificate is
	// checked against; nil for the system's.
	CA []byte
	// Token is the bearer token requests carry.
	Token string
	// Namespace is the context's namespace (default "default").
	Namespace string
}

// Marshal writes the kubeconfig as YAML (clientcmd's v1 format), its
// context current.
func (k Kubeconfig) Marshal() ([]byte, error) {
	o := Options{Server: k.Server}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if k.Token == "" {
		return nil, fmt.Errorf("no token")
	}
	ns := k.Namespace
	if ns == "" {
		ns = "default"
	}
	cfg := clientcmdv1.Config{
		Kind:       "Config",
		APIVersion: "v1",
		Clusters: []clientcmdv1.NamedCluster{{Name: KubeconfigName, Cluster: clientcmdv1.Cluster{
			Server:                   k.Server,
			CertificateAuthorityData: k.CA,
		}}},
		AuthInfos: []clientcmdv1.NamedAuthInfo{{Name: KubeconfigName, AuthInfo: clientcmdv1.AuthInfo{Token: k.Token}}},
		Contexts: []clientcmdv1.NamedContext{{Name: KubeconfigName, Context: clientcmdv1.Context{
			Cluster: KubeconfigName, AuthInfo: KubeconfigName, Namespace: ns,
		}}},
		CurrentContext: KubeconfigName,
	}
	return yaml.Marshal(&cfg)
}
