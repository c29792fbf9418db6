package schema

import (
	"context"
	"testing"

	k8sschema "k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/pkgserver/pkgserver/internal/krm/krmtest"
)

const benchDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports: [{name: http, containerPort: 8080}]
        env: [{name: A, value: b}, {name: C, valueFrom: {secretKeyRef: {name: s, key: k}}}]
        resources: {requests: {cpu: 250m, memory: 256Mi}, limits: {memory: 512Mi}}
        readinessProbe: {httpGet: {path: /ready, port: http}}
`

// BenchmarkValidateDeployment is the cost of checking one typical
// Deployment against its built-in schema.
func BenchmarkValidateDeployment(b *testing.B) {
	set := NewSet(NewBuiltin(), nil)
	s, err := set.Lookup(k8sschema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"})
	if err != nil {
		b.Fatal(err)
	}
	obj := krmtest.Object(b, benchDeployment)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if errs := s.Validate(ctx, obj); len(errs) > 0 {
			b.Fatal(errs)
		}
	}
}

// BenchmarkCompileBuiltin is the one-time cost of compiling a built-in
// kind's schema on its first use.
func BenchmarkCompileBuiltin(b *testing.B) {
	gvk := k8sschema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	for b.Loop() {
		if _, _, err := NewBuiltin().Lookup(gvk); err != nil {
			b.Fatal(err)
		}
	}
}
