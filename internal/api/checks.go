package api

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/result"
	"github.com/pkgserver/pkgserver/internal/store"
)

// CommitChecks is the full report of the checks of a commit of a GitHub or
// GitLab repository: what check runs and commit statuses link to.
type CommitChecks struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Repository        string        `json:"repository"`
	Commit            string        `json:"commit"`
	Checks            []CommitCheck `json:"checks"`
}

// CommitCheck is one check of a commit.
type CommitCheck struct {
	Name       string          `json:"name"`
	Ref        string          `json:"ref"`
	Conclusion string          `json:"conclusion"`
	Title      string          `json:"title"`
	Summary    string          `json:"summary"`
	Results    []result.Result `json:"results"`
	// Posted is set once the forge holds the check; Error is why posting
	// it failed.
	Posted   bool        `json:"posted"`
	Attempts int         `json:"attempts,omitempty"`
	Error    string      `json:"error,omitempty"`
	Created  metav1.Time `json:"created"`
}

func (s *Server) getChecks(c echo.Context) error {
	ns, name, commit := c.Param("ns"), c.Param("name"), strings.ToLower(c.Param("commit"))
	if err := authorize(c, ns, store.RoleRead); err != nil {
		return err
	}
	if !gitrepo.IsObjectID(commit) {
		return newStatus(http.StatusBadRequest, metav1.StatusReasonBadRequest, "%q is not a full commit id", c.Param("commit"))
	}
	ctx := c.Request().Context()
	if _, err := s.store.GetRepository(ctx, ns, name); err != nil {
		return repoErr(err, name)
	}
	checks, err := s.store.Checks(ctx, ns, name, commit)
	if err != nil {
		return err
	}
	if len(checks) == 0 {
		return notFound("checks", commit)
	}
	out := CommitChecks{TypeMeta: metav1.TypeMeta{APIVersion: configv1alpha1.APIVersion, Kind: "CommitChecks"},
		ObjectMeta: metav1.ObjectMeta{Name: commit, Namespace: ns}, Repository: name, Commit: commit}
	for _, ch := range checks {
		cc := CommitCheck{Name: ch.Name, Ref: ch.Ref, Conclusion: ch.Conclusion, Title: ch.Title, Summary: ch.Summary,
			Posted: ch.Reported && ch.Error == "", Attempts: ch.Attempts, Error: ch.Error, Created: metav1.NewTime(ch.CreatedAt)}
		if err := json.Unmarshal(ch.Results, &cc.Results); err != nil {
			return err
		}
		if cc.Results == nil {
			cc.Results = []result.Result{}
		}
		out.Checks = append(out.Checks, cc)
	}
	return writeJSON(c, http.StatusOK, out)
}
