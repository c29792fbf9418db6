package validate

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// configMapPackage returns a package of files files of ConfigMaps, each file
// close to size bytes. With keys 0 every ConfigMap holds a few long values;
// otherwise each holds keys short entries, the most YAML nodes per byte.
func configMapPackage(files, size, keys int) (fstest.MapFS, int64) {
	fsys := fstest.MapFS{"Kptfile": {Data: []byte(kptfile)}}
	total := int64(len(kptfile))
	for f := range files {
		var b strings.Builder
		for i := 0; i < 999; i++ {
			var doc strings.Builder
			fmt.Fprintf(&doc, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d-%d\n  namespace: default\ndata:\n", f, i)
			if keys == 0 {
				for k := range 10 {
					fmt.Fprintf(&doc, "  key%d: %q\n", k, strings.Repeat("v", 150))
				}
			} else {
				for k := range keys {
					fmt.Fprintf(&doc, "  k%03d: v%03d\n", k, k)
				}
			}
			doc.WriteString("---\n")
			if b.Len()+doc.Len() > size {
				break
			}
			b.WriteString(doc.String())
		}
		name := fmt.Sprintf("cm%02d.yaml", f)
		fsys[name] = &fstest.MapFile{Data: []byte(b.String())}
		total += int64(b.Len())
	}
	return fsys, total
}

func BenchmarkValidateConfigMaps(b *testing.B) {
	for _, tc := range []struct {
		name string
		keys int
	}{{"long-values", 0}, {"short-keys", 140}} {
		b.Run(tc.name, func(b *testing.B) {
			fsys, size := configMapPackage(4, 2<<20-64<<10, tc.keys)
			e := engine(b, Config{})
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				r := e.Validate(context.Background(), Package{Path: "p", FS: fsys})
				if errs, _, _ := r.Counts(); errs > 0 {
					b.Fatal(lines(r))
				}
			}
		})
	}
}

// TestValidateMemoryBounded validates a package of ConfigMaps with short
// keys, the most YAML nodes per byte, and samples the heap meanwhile: a
// validation must not hold every document's nodes and objects at once.
func TestValidateMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("validates a package of 4 MB")
	}
	fsys, size := configMapPackage(2, 2<<20-64<<10, 140)
	e := engine(t, Config{})
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	done := make(chan struct{})
	peak := make(chan uint64)
	go func() {
		var most uint64
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			select {
			case <-done:
				peak <- most
				return
			case <-tick.C:
				metrics.Read(samples)
				most = max(most, samples[0].Value.Uint64())
			}
		}
	}()
	r := e.Validate(context.Background(), Package{Path: "p", FS: fsys})
	close(done)
	most := <-peak
	if errs, _, _ := r.Counts(); errs > 0 || r.Resources < 1000 {
		t.Fatalf("%d resources, findings %v", r.Resources, lines(r))
	}
	grew := int64(most) - int64(before.HeapAlloc)
	t.Logf("package of %d bytes: heap grew by %d bytes at most (%.1f× the package)", size, grew, float64(grew)/float64(size))
	if grew > BytesPerYAMLByte*size {
		t.Errorf("heap grew by %d bytes validating a package of %d bytes, more than %d× its size", grew, size, BytesPerYAMLByte)
	}
}

const widgetCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer, minimum: 1, maximum: 10}
            x-kubernetes-validations:
            - rule: "self.size % 2 == 0"
              message: size must be even
`

// TestSecondReading: a package read twice, one document at a time, gets the
// findings of one whose resources are kept between the two readings (as
// small packages are).
func TestSecondReading(t *testing.T) {
	fsys := pkg(map[string]string{
		"crd.yaml": widgetCRD,
		"widgets.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: a, namespace: team}\nspec: {size: 3}\n---\n" +
			"apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: b}\nspec: {size: 12, colour: red}\n",
		"ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n",
		"deploy.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: team}\nspec:\n  selector: {matchLabels: {app: web}}\n" +
			"  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n      - name: web\n        image: nginx\n        bogus: 1\n",
		"dup.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: [1]}\n---\nkind: ConfigMap\n---\n- a list\n",
		"bad.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d}\n---\n: : bad\n",
		"fn.yaml":  "apiVersion: fn.kpt.dev/v1alpha1\nkind: SetLabels\nmetadata: {name: fn}\n",
	})
	e := engine(t, Config{})
	kept := e.Validate(context.Background(), Package{Path: "p", FS: fsys})
	e.keepBelow = -1
	twice := e.Validate(context.Background(), Package{Path: "p", FS: fsys})
	if diff := cmp.Diff(lines(kept), lines(twice)); diff != "" {
		t.Errorf("(-kept +read twice):\n%s", diff)
	}
	if kept.Resources != twice.Resources {
		t.Errorf("resources: kept %d, read twice %d", kept.Resources, twice.Resources)
	}
	// Every layer has a say, so the comparison is not of two empty reports.
	for _, check := range []string{"[schema]", "[krm-structure]", "[duplicate-resource]", "[yaml]", "[policy/pkgserver-require-image-tag]"} {
		if !strings.Contains(strings.Join(lines(twice), "\n"), check) {
			t.Errorf("no finding %s in %q", check, lines(twice))
		}
	}
}
