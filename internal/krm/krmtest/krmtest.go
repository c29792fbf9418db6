// Package krmtest helps tests build resources from YAML text.
package krmtest

import (
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/pkgserver/pkgserver/internal/krm"
)

// Object parses one YAML document into the unstructured value pkgserver
// validates, failing the test on any error.
func Object(t testing.TB, doc string) map[string]any {
	t.Helper()
	n, err := yaml.Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := krm.ToObject(n.YNode())
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

// Deployment is the YAML of Deployment "web" with one container of image
// and the replicas given (YAML text: "3", or "" for none).
func Deployment(replicas, image string) string {
	return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: " + replicas + "\n" +
		"  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n" +
		"    spec:\n      containers:\n      - name: web\n        image: " + image + "\n"
}

// MaxReplicasPolicy is a repository policy and its binding: at most 5
// replicas of a Deployment, denied.
const MaxReplicasPolicy = `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: max-replicas
spec:
  matchConstraints:
    resourceRules:
    - apiGroups: [apps]
      apiVersions: [v1]
      operations: [CREATE, UPDATE]
      resources: [deployments]
  validations:
  - expression: "!has(object.spec.replicas) || object.spec.replicas <= 5"
    messageExpression: "'at most 5 replicas, not ' + string(object.spec.replicas)"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: max-replicas
spec:
  policyName: max-replicas
  validationActions: [Deny]
`
