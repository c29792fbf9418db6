// Package client is the HTTP client of pkgserver's API that the command line
// uses: repositories and package revisions, with errors as the server
// reported them.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
)

// Client talks to one server with one token.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// New returns a client of the server at base (http://host:port, or
// https://host:port with a certificate the system trusts).
func New(base, token string) *Client {
	return &Client{base: strings.TrimRight(base, "/"), token: token, http: &http.Client{Timeout: 10 * time.Minute}}
}

// Options say how to reach a server.
type Options struct {
	// Server is the server's URL: http://host:port or https://host:port.
	Server string
	// Token is the API token requests carry.
	Token string
	// CAFile is a PEM file of certificate authorities an https server's
	// certificate may be signed by, besides those the system trusts; ""
	// for the system's only.
	CAFile string
}

// Validate refuses a server URL that is not http or https.
func (o *Options) Validate() error {
	u, err := url.Parse(o.Server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("server %q: want an http:// or https:// URL", o.Server)
	}
	return nil
}

// Open returns a client of the server o names, trusting o.CAFile.
func Open(o Options) (*Client, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	c := New(o.Server, o.Token)
	if o.CAFile == "" {
		return c, nil
	}
	pem, err := os.ReadFile(o.CAFile)
	if err != nil {
		return nil, fmt.Errorf("certificate authority: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("certificate authority %s: no PEM certificate in it", o.CAFile)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	c.http.Transport = t
	return c, nil
}

// Error is an error answered by the server, as a Status.
type Error struct {
	Status metav1.Status
}

func (e *Error) Error() string {
	if e.Status.Message != "" {
		return e.Status.Message
	}
	return fmt.Sprintf("the server answered %d", e.Status.Code)
}

func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if strings.HasPrefix(c.base, "https://") && strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
			return fmt.Errorf("the server at %s serves plain http: use http://%s", c.base, strings.TrimPrefix(c.base, "https://"))
		}
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var st metav1.Status
		if json.Unmarshal(data, &st) != nil || st.Kind != "Status" {
			st = metav1.Status{Code: int32(resp.StatusCode), Message: strings.TrimSpace(string(data))}
		}
		if resp.StatusCode == http.StatusBadRequest && strings.HasPrefix(c.base, "http://") && bytes.Contains(data, []byte("HTTPS server")) {
			// Go's TLS server answers plain HTTP so.
			st.Message = fmt.Sprintf("the server at %s serves https: use https://%s", c.base, strings.TrimPrefix(c.base, "http://"))
			st.Reason = metav1.StatusReasonBadRequest
		}
		return &Error{Status: st}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}

const (
	reposBase = "/apis/" + configv1alpha1.APIVersion
	pkgsBase  = "/apis/" + pkgv1alpha1.APIVersion
)

func reposPath(ns string) string {
	return reposBase + "/namespaces/" + url.PathEscape(ns) + "/repositories"
}

// CreateRepository registers a repository.
func (c *Client) CreateRepository(ctx context.Context, r *configv1alpha1.Repository) (*configv1alpha1.Repository, error) {
	var out configv1alpha1.Repository
	return &out, c.do(ctx, http.MethodPost, reposPath(r.Namespace), nil, r, &out)
}

// GetRepository reads a repository.
func (c *Client) GetRepository(ctx context.Context, ns, name string) (*configv1alpha1.Repository, error) {
	var out configv1alpha1.Repository
	return &out, c.do(ctx, http.MethodGet, reposPath(ns)+"/"+url.PathEscape(name), nil, nil, &out)
}

// ListRepositories lists repositories of a namespace, or of all with "".
func (c *Client) ListRepositories(ctx context.Context, ns string) (*configv1alpha1.RepositoryList, error) {
	p := reposBase + "/repositories"
	if ns != "" {
		p = reposPath(ns)
	}
	var out configv1alpha1.RepositoryList
	return &out, c.do(ctx, http.MethodGet, p, nil, nil, &out)
}

// DeleteRepository unregisters a repository.
func (c *Client) DeleteRepository(ctx context.Context, ns, name string) error {
	return c.do(ctx, http.MethodDelete, reposPath(ns)+"/"+url.PathEscape(name), nil, nil, nil)
}

// SyncRepository syncs a repository now and returns it afterwards.
func (c *Client) SyncRepository(ctx context.Context, ns, name string) (*configv1alpha1.Repository, error) {
	var out configv1alpha1.Repository
	return &out, c.do(ctx, http.MethodPost, reposPath(ns)+"/"+url.PathEscape(name)+"/sync", nil, nil, &out)
}

// RevisionFilter selects package revisions.
type RevisionFilter struct {
	Namespace  string // "" for all
	Repository string
	Package    string
	Workspace  string
	Lifecycle  string
	Revision   string
	Labels     string
}

// ListRevisions lists the revisions a filter selects, every page of them.
func (c *Client) ListRevisions(ctx context.Context, f RevisionFilter) ([]pkgv1alpha1.PackageRevision, error) {
	p := pkgsBase + "/packagerevisions"
	if f.Namespace != "" {
		p = pkgsBase + "/namespaces/" + url.PathEscape(f.Namespace) + "/packagerevisions"
	}
	var fs []string
	for k, v := range map[string]string{"spec.repository": f.Repository, "spec.packageName": f.Package,
		"spec.workspaceName": f.Workspace, "spec.lifecycle": f.Lifecycle, "spec.revision": f.Revision} {
		if v != "" {
			fs = append(fs, k+"="+v)
		}
	}
	q := url.Values{"limit": {"1000"}}
	if len(fs) > 0 {
		q.Set("fieldSelector", strings.Join(fs, ","))
	}
	if f.Labels != "" {
		q.Set("labelSelector", f.Labels)
	}
	var all []pkgv1alpha1.PackageRevision
	for {
		var page pkgv1alpha1.PackageRevisionList
		if err := c.do(ctx, http.MethodGet, p, q, nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.Continue == "" {
			return all, nil
		}
		q.Set("continue", page.Continue)
	}
}

// GetRevision reads a package revision.
func (c *Client) GetRevision(ctx context.Context, ns, name string) (*pkgv1alpha1.PackageRevision, error) {
	var out pkgv1alpha1.PackageRevision
	return &out, c.do(ctx, http.MethodGet, pkgsBase+"/namespaces/"+url.PathEscape(ns)+"/packagerevisions/"+url.PathEscape(name), nil, nil, &out)
}

// GetResources reads the files of a package revision.
func (c *Client) GetResources(ctx context.Context, ns, name string) (*pkgv1alpha1.PackageRevisionResources, error) {
	var out pkgv1alpha1.PackageRevisionResources
	return &out, c.do(ctx, http.MethodGet, pkgsBase+"/namespaces/"+url.PathEscape(ns)+"/packagerevisionresources/"+url.PathEscape(name), nil, nil, &out)
}

func revisionsPath(ns string) string {
	return pkgsBase + "/namespaces/" + url.PathEscape(ns) + "/packagerevisions"
}

// CreateRevision creates a Draft.
func (c *Client) CreateRevision(ctx context.Context, pr *pkgv1alpha1.PackageRevision) (*pkgv1alpha1.PackageRevision, error) {
	var out pkgv1alpha1.PackageRevision
	return &out, c.do(ctx, http.MethodPost, revisionsPath(pr.Namespace), nil, pr, &out)
}

// UpdateRevision moves a revision between Draft and Proposed.
func (c *Client) UpdateRevision(ctx context.Context, pr *pkgv1alpha1.PackageRevision) (*pkgv1alpha1.PackageRevision, error) {
	var out pkgv1alpha1.PackageRevision
	return &out, c.do(ctx, http.MethodPut, revisionsPath(pr.Namespace)+"/"+url.PathEscape(pr.Name), nil, pr, &out)
}

// Approval approves or rejects a proposal or a deletion proposal.
func (c *Client) Approval(ctx context.Context, pr *pkgv1alpha1.PackageRevision) (*pkgv1alpha1.PackageRevision, error) {
	var out pkgv1alpha1.PackageRevision
	return &out, c.do(ctx, http.MethodPut, revisionsPath(pr.Namespace)+"/"+url.PathEscape(pr.Name)+"/approval", nil, pr, &out)
}

// DeleteRevision deletes a Draft or Proposed revision, or approves a
// deletion proposal.
func (c *Client) DeleteRevision(ctx context.Context, ns, name string) error {
	return c.do(ctx, http.MethodDelete, revisionsPath(ns)+"/"+url.PathEscape(name), nil, nil, nil)
}

// PutResources replaces a Draft's files.
func (c *Client) PutResources(ctx context.Context, res *pkgv1alpha1.PackageRevisionResources) (*pkgv1alpha1.PackageRevisionResources, error) {
	var out pkgv1alpha1.PackageRevisionResources
	return &out, c.do(ctx, http.MethodPut, pkgsBase+"/namespaces/"+url.PathEscape(res.Namespace)+"/packagerevisionresources/"+url.PathEscape(res.Name), nil, res, &out)
}
