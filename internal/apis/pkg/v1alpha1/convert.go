package v1alpha1

import (
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pkgserver/pkgserver/internal/revision"
)

// FromRevision builds the API object of a revision. resourceVersion 0 means
// none (a revision not from the index).
func FromRevision(r revision.Revision, namespace, repository string, resourceVersion int64) PackageRevision {
	pr := PackageRevision{
		TypeMeta:   metav1.TypeMeta{APIVersion: APIVersion, Kind: "PackageRevision"},
		ObjectMeta: metav1.ObjectMeta{Name: r.Name, Namespace: namespace},
		Spec: PackageRevisionSpec{
			PackageName:   r.Package,
			Repository:    repository,
			WorkspaceName: r.Workspace,
			Revision:      r.Revision,
			Lifecycle:     string(r.Lifecycle),
		},
		Status: PackageRevisionStatus{Commit: r.Commit, PublishedBy: r.PublishedBy, PullRequest: r.PullRequest},
	}
	if resourceVersion > 0 {
		pr.ResourceVersion = strconv.FormatInt(resourceVersion, 10)
	}
	if r.Latest {
		pr.Labels = map[string]string{LatestRevisionLabel: "true"}
	}
	if !r.PublishedAt.IsZero() {
		t := metav1.NewTime(r.PublishedAt.UTC())
		pr.Status.PublishTimestamp = &t
	}
	return pr
}
