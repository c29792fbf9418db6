package krm

import (
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// TestReadEachResource: reading a package with Read and then EachResource,
// one document at a time, finds what Load finds, in the same order.
func TestReadEachResource(t *testing.T) {
	limits := DefaultLimits()
	limits.DocumentsPerFile = 3
	for name, fsys := range map[string]fstest.MapFS{
		"good": {"Kptfile": file(kptfile), "a.yaml": file("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n# only a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: n}\n")},
		"problems": {
			"Kptfile":   file(kptfile),
			"a.yaml":    file("- a list\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: 1, k: 2}\n---\nkind: X\n---\nkind: Y\n"),
			"b/c.yml":   file("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n: : bad\n"),
			"notes.txt": file(": not YAML"),
		},
		"no Kptfile": {"a.yaml": file("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")},
	} {
		t.Run(name, func(t *testing.T) {
			want := Load(fsys, limits)
			got := Read(fsys, limits)
			if got.Kptfile != want.Kptfile && (got.Kptfile == nil || want.Kptfile == nil || got.Kptfile.Path != want.Kptfile.Path) {
				t.Errorf("Kptfile %v, want %v", got.Kptfile, want.Kptfile)
			}
			readFindings := got.Findings
			got.Findings = nil
			type res struct {
				File                              string
				Index, Line                       int
				APIVersion, Kind, Name, Namespace string
				Object                            map[string]any
			}
			var gotRes, wantRes []res
			for _, f := range got.Files {
				if f.Data != nil && IsYAMLFile(f.Path) {
					got.Findings = append(got.Findings, EachResource(f, limits, func(r *Resource) {
						gotRes = append(gotRes, res{r.File, r.Index, r.Line(), r.APIVersion, r.Kind, r.Name, r.Namespace, r.Object})
					})...)
				}
			}
			// Load reports a missing Kptfile after the problems of parsing (these
			// packages have no problems of walking, reported before).
			got.Findings = append(got.Findings, readFindings...)
			for _, r := range want.Resources {
				wantRes = append(wantRes, res{r.File, r.Index, r.Line(), r.APIVersion, r.Kind, r.Name, r.Namespace, r.Object})
			}
			if diff := cmp.Diff(wantRes, gotRes); diff != "" {
				t.Errorf("resources (-Load +EachResource):\n%s", diff)
			}
			if diff := cmp.Diff(findings(want.Findings), findings(got.Findings)); diff != "" {
				t.Errorf("findings (-Load +Read and EachResource):\n%s", diff)
			}
		})
	}
}
