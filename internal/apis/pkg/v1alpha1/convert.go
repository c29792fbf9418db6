package v1alpha1

import (
	"crypto/sha1"
	"fmt"
	"maps"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/pkgserver/pkgserver/internal/revision"
)

// FromRevision builds the API object of a revision. resourceVersion 0 means
// none (a revision not from the index).
func FromRevision(r revision.Revision, meta revision.Meta, namespace, repository string, resourceVersion int64) PackageRevision {
	pr := PackageRevision{
		TypeMeta:   metav1.TypeMeta{APIVersion: APIVersion, Kind: "PackageRevision"},
		ObjectMeta: ObjectMeta("PackageRevision", r, namespace, resourceVersion),
		Spec: PackageRevisionSpec{
			PackageName:   r.Package,
			Repository:    repository,
			WorkspaceName: r.Workspace,
			Revision:      r.Revision,
			Lifecycle:     string(r.Lifecycle),
		},
		Status: PackageRevisionStatus{Commit: r.Commit, PublishedBy: r.PublishedBy, PullRequest: r.PullRequest},
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

// ObjectMeta is the metadata of a revision's object of a kind
// (PackageRevision or PackageRevisionResources), derived from git alone so
// that every replica and every rebuild of the index agree:
//
//   - uid is a name-based (SHA-1, version 5) UUID of the kind, namespace
//     and name: the same through the revision's life (edits, proposal,
//     approval, deletion proposal), and the same again for a revision
//     deleted and created anew under its name, as git keeps no record of
//     when a branch was created;
//   - creationTimestamp is the revision's CreatedAt: when it was published,
//     or a draft's or proposal's newest commit;
//   - generation is 1: a revision's spec changes only by moving it through
//     its lifecycle, which git does not count.
//
// resourceVersion 0 means none (a revision not from the index).
func ObjectMeta(kind string, r revision.Revision, namespace string, resourceVersion int64) metav1.ObjectMeta {
	m := metav1.ObjectMeta{Name: r.Name, Namespace: namespace, Generation: 1, UID: UID(kind, namespace, r.Name)}
	if !r.CreatedAt.IsZero() {
		m.CreationTimestamp = metav1.NewTime(r.CreatedAt.UTC())
	}
	if resourceVersion > 0 {
		m.ResourceVersion = strconv.FormatInt(resourceVersion, 10)
	}
	return m
}

// uidSpace is the UUID namespace of pkgserver's name-based uids: a version
// 5 UUID of the URL namespace and "https://pkgserver.dev/uid"
// (41e4c4cd-89af-52fb-b33f-77d5fb40f378).
var uidSpace = [16]byte{0x41, 0xe4, 0xc4, 0xcd, 0x89, 0xaf, 0x52, 0xfb, 0xb3, 0x3f, 0x77, 0xd5, 0xfb, 0x40, 0xf3, 0x78}

// UID is the uid of an object of a kind derived from git: a version 5 UUID
// (RFC 9562: SHA-1 over a namespace UUID and a name) of its group, kind,
// namespace and name.
func UID(kind, namespace, name string) types.UID {
	h := sha1.New()
	h.Write(uidSpace[:])
	h.Write([]byte(Group + "/" + kind + "/" + namespace + "/" + name))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return types.UID(fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]))
}
