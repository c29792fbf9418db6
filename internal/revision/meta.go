package revision

import "strings"

// Meta is what a revision's Kptfile says about the revision itself: the
// labels and annotations of its metadata, the readiness gates of its info
// and the conditions of its status. It is part of the package's content,
// so it is as immutable as the revision: a published revision's labels are
// those its Kptfile was published with.
type Meta struct {
	Labels         map[string]string `json:"labels,omitempty"`
	Annotations    map[string]string `json:"annotations,omitempty"`
	ReadinessGates []string          `json:"readinessGates,omitempty"`
	Conditions     []Condition       `json:"conditions,omitempty"`
}

// Condition is a condition of the Kptfile's status.
type Condition struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// Empty tells a Meta with nothing in it.
func (m Meta) Empty() bool {
	return len(m.Labels) == 0 && len(m.Annotations) == 0 && len(m.ReadinessGates) == 0 && len(m.Conditions) == 0
}

// SystemPrefix starts the labels and conditions pkgserver sets itself
// (pkg.pkgserver.dev/latest-revision, pkg.pkgserver.dev/validated): a
// Kptfile cannot set them, nor can a client.
const SystemPrefix = "pkg.pkgserver.dev/"

// IsSystemLabel tells a label pkgserver owns.
func IsSystemLabel(key string) bool { return strings.HasPrefix(key, SystemPrefix) }

// IsConfigAnnotation tells an annotation that speaks of the Kptfile as a
// KRM resource rather than of the revision (config.kubernetes.io/local-config
// and the like, which kpt writes into every Kptfile): kept in the Kptfile,
// not shown as the revision's, and not the client's to set.
func IsConfigAnnotation(key string) bool {
	return strings.HasPrefix(key, "config.kubernetes.io/") || strings.HasPrefix(key, "internal.config.kubernetes.io/") ||
		strings.HasPrefix(key, "config.k8s.io/")
}
