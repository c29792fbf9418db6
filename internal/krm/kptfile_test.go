package krm

import "testing"

// KptfileFunctions: a pipeline with a function runs; none, an empty
// pipeline, or no mention of one does not; a Kptfile that does not parse
// says so.
func TestKptfileFunctions(t *testing.T) {
	head := "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: p\n"
	for _, tc := range []struct {
		name, data string
		has, ok    bool
	}{
		{"no pipeline", head, false, true},
		{"empty pipeline", head + "pipeline: {}\n", false, true},
		{"a mutator", head + "pipeline:\n  mutators:\n  - image: gcr.io/kpt-fn/set-namespace:v0.4.1\n", true, true},
		{"a validator", head + "pipeline:\n  validators:\n  - image: gcr.io/kpt-fn/kubeval:v0.3\n", true, true},
		{"does not parse", head + "pipeline: [\n", false, false},
	} {
		if has, ok := KptfileFunctions([]byte(tc.data)); has != tc.has || ok != tc.ok {
			t.Errorf("%s: got %v %v, want %v %v", tc.name, has, ok, tc.has, tc.ok)
		}
	}
}
