package krm

import (
	"testing"
	"testing/fstest"
)

// FuzzLoad feeds arbitrary bytes as a package's Kptfile and resource file:
// loading must never panic, and every problem must be a finding.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(kptfile), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"))
	f.Add([]byte(kptfile), []byte(billionLaughs))
	f.Add([]byte("a: &a [*a]\n"), []byte("base: &b {a: 1}\nx: {<<: *b, <<: [*b, *b]}\n"))
	f.Add([]byte("---\n---\n"), []byte("a: !!binary aGVsbG8=\nb: !!float 1_000.5\nc: 0b101\nd: -0o17\n"))
	f.Add([]byte("\t- [\n"), []byte("? {a: 1}\n: b\n"))
	limits := DefaultLimits()
	limits.NodesPerDocument = 5000
	limits.Depth = 50
	f.Fuzz(func(t *testing.T, kf, res []byte) {
		pkg := Load(fstest.MapFS{"Kptfile": {Data: kf}, "r.yaml": {Data: res}}, limits)
		for _, r := range pkg.Findings {
			if r.Check == "" || r.Severity == "" || r.Message == "" {
				t.Fatalf("incomplete finding %+v", r)
			}
		}
		for _, r := range pkg.Resources {
			if r.Object == nil || r.Node == nil {
				t.Fatalf("resource without content: %+v", r)
			}
			_ = r.LineOf("metadata.name")
		}
	})
}

// FuzzParseKptfile decodes arbitrary Kptfiles after the size checks every
// caller makes first: decoding must never panic.
func FuzzParseKptfile(f *testing.F) {
	f.Add([]byte(kptfile))
	f.Add([]byte(kptfile + "pipeline:\n  mutators:\n  - image: x\n    configMap: {a: b}\n  - exec: y\n"))
	f.Add([]byte(kptfile + "upstream: {type: git, git: {repo: r, directory: /, ref: main}}\nunknown: 1\n"))
	f.Add([]byte("apiVersion: kpt.dev/v1\n---\nkind: Kptfile\n"))
	f.Add([]byte("info: {keywords: notalist, readinessGates: [{conditionType: 1}]}\n"))
	limits := DefaultLimits()
	limits.NodesPerDocument = 5000
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, problems := ParseDocuments(data, limits); len(problems) > 0 {
			return
		}
		kf, errs := ParseKptfile(data)
		if kf == nil && len(errs) == 0 {
			t.Fatal("no Kptfile and no error")
		}
	})
}
