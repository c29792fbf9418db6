package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/pkgserver/pkgserver/test/bench/benchutil"
)

// event is one line of the server's log.
type event = benchutil.Event

// get decodes the JSON answer of a GET of the API.
func get(s *benchutil.Server, path string, into any) error {
	req, err := http.NewRequest(http.MethodGet, s.Base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	resp, err := s.HTTP.Do(req)
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
func revisions(s *benchutil.Server, repo, pkg string) ([]revision, error) {
	var l struct {
		Items []revision `json:"items"`
	}
	q := url.QueryEscape("spec.packageName=" + pkg + ",spec.repository=" + repo)
	err := get(s, "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions?fieldSelector="+q, &l)
	return l.Items, err
}

// packageCount is the repository's package count after its last sync.
func packageCount(s *benchutil.Server, repo string) (int, error) {
	var r struct {
		Status struct {
			PackageCount int `json:"packageCount"`
		} `json:"status"`
	}
	err := get(s, "/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/default/repositories/"+repo, &r)
	return r.Status.PackageCount, err
}
