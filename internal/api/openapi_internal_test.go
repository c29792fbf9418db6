package api

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/managedfields"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
)

// The schemas serve server-side apply: structured-merge-diff's type
// converter accepts them and types objects of every kind with them.
func TestOpenAPISchemasTypeObjects(t *testing.T) {
	tc, err := managedfields.NewTypeConverter(openAPISchemas(), false)
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range []any{
		&configv1alpha1.Repository{TypeMeta: metav1.TypeMeta{APIVersion: configv1alpha1.APIVersion, Kind: "Repository"},
			ObjectMeta: metav1.ObjectMeta{Name: "r", Labels: map[string]string{"a": "b"}, Finalizers: []string{"x"}},
			Spec:       configv1alpha1.RepositorySpec{Git: configv1alpha1.GitSpec{URL: "https://example.com/r.git"}},
			Status:     configv1alpha1.RepositoryStatus{Conditions: []metav1.Condition{{Type: "Ready", Status: "True"}}}},
		&pkgv1alpha1.PackageRevision{TypeMeta: metav1.TypeMeta{APIVersion: pkgv1alpha1.APIVersion, Kind: "PackageRevision"},
			ObjectMeta: metav1.ObjectMeta{Name: "r.p.ws", CreationTimestamp: metav1.Now()},
			Spec: pkgv1alpha1.PackageRevisionSpec{PackageName: "p", Lifecycle: "Draft",
				ReadinessGates: []pkgv1alpha1.ReadinessGate{{ConditionType: "c"}},
				Tasks:          []pkgv1alpha1.Task{{Type: "init", Init: &pkgv1alpha1.InitTaskSpec{Description: "d"}}}}},
		&pkgv1alpha1.PackageRevisionResources{TypeMeta: metav1.TypeMeta{APIVersion: pkgv1alpha1.APIVersion, Kind: "PackageRevisionResources"},
			ObjectMeta: metav1.ObjectMeta{Name: "r.p.ws"},
			Spec:       pkgv1alpha1.PackageRevisionResourcesSpec{Resources: map[string]string{"Kptfile": "kind: Kptfile\n"}}},
	} {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{Object: m}
		if _, err := tc.ObjectToTyped(u); err != nil {
			t.Errorf("%s: %v", u.GetKind(), err)
		}
		// A field the schema does not know is refused.
		u.Object["spec"].(map[string]any)["unknown"] = true
		if _, err := tc.ObjectToTyped(u); err == nil {
			t.Errorf("%s: a field the schema does not know was typed", u.GetKind())
		}
	}
}
