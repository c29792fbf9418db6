package render

import (
	"fmt"
	"slices"
	"sync"

	"sigs.k8s.io/kustomize/api/types"
	k8syaml "sigs.k8s.io/yaml"
)

// The field specs the catalog's set-labels, set-annotations and
// set-namespace functions use: kustomize's defaults for commonLabels,
// commonAnnotations and namespace (sigs.k8s.io/kustomize/api,
// internal/konfig/builtinpluginconsts, v0.21.2, Apache-2.0), which kustomize
// keeps internal. metadata/namespace is not among them: the namespace
// filter sets it on every namespaced resource itself.
const (
	labelFieldSpecs = `
- {path: spec/selector, create: true, version: v1, kind: Service}
- {path: spec/selector, create: true, version: v1, kind: ReplicationController}
- {path: spec/selector/matchLabels, create: true, kind: Deployment}
- {path: spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels, group: apps, kind: Deployment}
- {path: spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels, group: apps, kind: Deployment}
- {path: spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels, group: apps, kind: Deployment}
- {path: spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels, group: apps, kind: Deployment}
- {path: spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels, group: apps, kind: Deployment}
- {path: spec/selector/matchLabels, create: true, kind: ReplicaSet}
- {path: spec/selector/matchLabels, create: true, kind: DaemonSet}
- {path: spec/selector/matchLabels, create: true, group: apps, kind: StatefulSet}
- {path: spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels, group: apps, kind: StatefulSet}
- {path: spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels, group: apps, kind: StatefulSet}
- {path: spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels, group: apps, kind: StatefulSet}
- {path: spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels, group: apps, kind: StatefulSet}
- {path: spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels, group: apps, kind: StatefulSet}
- {path: spec/selector/matchLabels, group: batch, kind: Job}
- {path: spec/jobTemplate/spec/selector/matchLabels, group: batch, kind: CronJob}
- {path: spec/selector/matchLabels, group: policy, kind: PodDisruptionBudget}
- {path: spec/podSelector/matchLabels, group: networking.k8s.io, kind: NetworkPolicy}
- {path: spec/ingress/from/podSelector/matchLabels, group: networking.k8s.io, kind: NetworkPolicy}
- {path: spec/egress/to/podSelector/matchLabels, group: networking.k8s.io, kind: NetworkPolicy}
- {path: metadata/labels, create: true}
- {path: spec/template/metadata/labels, create: true, version: v1, kind: ReplicationController}
- {path: spec/template/metadata/labels, create: true, kind: Deployment}
- {path: spec/template/metadata/labels, create: true, kind: ReplicaSet}
- {path: spec/template/metadata/labels, create: true, kind: DaemonSet}
- {path: spec/template/metadata/labels, create: true, group: apps, kind: StatefulSet}
- {path: "spec/volumeClaimTemplates[]/metadata/labels", create: true, group: apps, kind: StatefulSet}
- {path: spec/template/metadata/labels, create: true, group: batch, kind: Job}
- {path: spec/jobTemplate/metadata/labels, create: true, group: batch, kind: CronJob}
- {path: spec/jobTemplate/spec/template/metadata/labels, create: true, group: batch, kind: CronJob}
`
	annotationFieldSpecs = `
- {path: metadata/annotations, create: true}
- {path: spec/template/metadata/annotations, create: true, version: v1, kind: ReplicationController}
- {path: spec/template/metadata/annotations, create: true, kind: Deployment}
- {path: spec/template/metadata/annotations, create: true, kind: ReplicaSet}
- {path: spec/template/metadata/annotations, create: true, kind: DaemonSet}
- {path: spec/template/metadata/annotations, create: true, kind: StatefulSet}
- {path: spec/template/metadata/annotations, create: true, group: batch, kind: Job}
- {path: spec/jobTemplate/metadata/annotations, create: true, group: batch, kind: CronJob}
- {path: spec/jobTemplate/spec/template/metadata/annotations, create: true, group: batch, kind: CronJob}
`
	namespaceFieldSpecs = `
- {path: metadata/name, create: true, kind: Namespace}
- {path: spec/service/namespace, create: true, group: apiregistration.k8s.io, kind: APIService}
- {path: spec/conversion/webhook/clientConfig/service/namespace, group: apiextensions.k8s.io, kind: CustomResourceDefinition}
`
)

// parseFieldSpecs decodes one of the tables above, once: each call returns
// a copy of the decoded table.
func parseFieldSpecs(s string) (types.FsSlice, error) {
	parsed, err := fieldSpecTables[s]()
	return slices.Clone(parsed), err
}

var fieldSpecTables = map[string]func() (types.FsSlice, error){}

func init() {
	for _, table := range []string{labelFieldSpecs, annotationFieldSpecs, namespaceFieldSpecs, imageFieldSpecs} {
		fieldSpecTables[table] = sync.OnceValues(func() (types.FsSlice, error) {
			var fs types.FsSlice
			if err := k8syaml.UnmarshalStrict([]byte(table), &fs); err != nil {
				return nil, fmt.Errorf("built-in field specs: %w", err)
			}
			return fs, nil
		})
	}
}
