package v1alpha1

import (
	"maps"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pkgserver/pkgserver/internal/revision"
)

// FromRevision builds the API object of a revision. resourceVersion 0 means
// none (a revision not from the index).
func FromRevision(r revision.Revision, meta revision.Meta, namespace, repository string, resourceVersion int64) PackageRevision {
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
	if len(meta.Labels) > 0 || r.Latest {
		pr.Labels = maps.Clone(meta.Labels)
		if pr.Labels == nil {
			pr.Labels = map[string]string{}
		}
		if r.Latest {
			pr.Labels[LatestRevisionLabel] = "true"
		}
	}
	pr.Annotations = maps.Clone(meta.Annotations)
	for _, g := range meta.ReadinessGates {
		pr.Spec.ReadinessGates = append(pr.Spec.ReadinessGates, ReadinessGate{ConditionType: g})
	}
	for _, c := range meta.Conditions {
		pr.Status.Conditions = append(pr.Status.Conditions, Condition(c))
	}
	if !r.PublishedAt.IsZero() {
		t := metav1.NewTime(r.PublishedAt.UTC())
		pr.Status.PublishTimestamp = &t
	}
	return pr
}
