package benchutil

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
)

// RevisionsPath is where the API keeps the default namespace's package
// revisions.
const RevisionsPath = "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions"

// WaitSynced waits up to timeout for a sync of a registered repository
// that ended at since or later (the second it began, as the API gives
// it; any sync if since is zero), and returns how long after the call it
// was seen.
func (s *Server) WaitSynced(name string, since time.Time, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	for deadline := start.Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var r configv1alpha1.Repository
		if _, _, err := s.Call(http.MethodGet, RepositoriesPath+"/"+name, nil, http.StatusOK, &r); err != nil {
			return 0, err
		}
		ready := meta.FindStatusCondition(r.Status.Conditions, "Ready")
		if ready != nil && ready.Status == "True" && r.Status.LastSyncTime != nil && (since.IsZero() || !r.Status.LastSyncTime.Time.Before(since.Truncate(time.Second))) {
			return time.Since(start), nil
		}
		if ready != nil && ready.Status == "False" {
			return 0, fmt.Errorf("the sync of %s failed: %s", name, ready.Message)
		}
	}
	return 0, fmt.Errorf("%s did not sync within %s", name, timeout)
}

// RevisionNames lists every package revision of the default namespace in
// pages of page, and returns their names.
func (s *Server) RevisionNames(page int) ([]string, error) {
	var names []string
	cont := ""
	for {
		var l struct {
			Metadata struct {
				Continue string `json:"continue"`
			} `json:"metadata"`
			Items []struct {
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
			} `json:"items"`
		}
		path := fmt.Sprintf("%s?limit=%d&continue=%s", RevisionsPath, page, url.QueryEscape(cont))
		if _, _, err := s.Call(http.MethodGet, path, nil, http.StatusOK, &l); err != nil {
			return nil, err
		}
		for _, it := range l.Items {
			names = append(names, it.Metadata.Name)
		}
		if cont = l.Metadata.Continue; cont == "" {
			return names, nil
		}
	}
}
