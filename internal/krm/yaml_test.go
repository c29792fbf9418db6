package krm

import (
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

func TestParseDocuments(t *testing.T) {
	small := DefaultLimits()
	small.DocumentsPerFile = 2
	small.NodesPerDocument = 20
	small.Depth = 3
	tests := []struct {
		name     string
		data     string
		limits   Limits
		wantDocs []int // indexes of the documents returned
		want     []ParseError
	}{
		{name: "empty file", data: "", wantDocs: nil},
		{name: "only comments", data: "# nothing here\n", wantDocs: nil},
		{name: "documents and an empty one", data: "a: 1\n---\n---\nb: 2\n", wantDocs: []int{0, 2}},
		{name: "syntax error keeps earlier documents", data: "a: 1\n---\nb: [1,\nc: 2\n", wantDocs: []int{0},
			want: []ParseError{{Line: 3, Message: "invalid YAML: did not find expected ',' or ']'"}}},
		{name: "too many documents", data: "a: 1\n---\nb: 2\n---\nc: 3\n", limits: small, wantDocs: []int{0, 1},
			want: []ParseError{{Line: 5, Limit: true, Message: "file holds more than 2 YAML documents"}}},
		{name: "too many nodes through aliases", data: "a: &a [1, 2, 3, 4, 5]\nb: [*a, *a, *a, *a]\n", limits: small,
			want: []ParseError{{Line: 1, Limit: true, Message: "document expands to more than 20 YAML nodes (aliases counted expanded)"}}},
		{name: "too deep", data: "a: {b: {c: {d: 1}}}\n", limits: small,
			want: []ParseError{{Line: 1, Limit: true, Message: "document nests deeper than 3 levels (aliases counted expanded)"}}},
		{name: "deep through an alias", data: "x: &x {c: {d: 1}}\ny: {z: *x}\n", limits: small,
			want: []ParseError{{Line: 1, Limit: true, Message: "document nests deeper than 3 levels (aliases counted expanded)"}}},
		{name: "within limits", data: "x: &x {c: 1}\ny: *x\n", limits: small, wantDocs: []int{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			limits := tt.limits
			if limits == (Limits{}) {
				limits = DefaultLimits()
			}
			docs, problems := ParseDocuments([]byte(tt.data), limits)
			var got []int
			for _, d := range docs {
				got = append(got, d.Index)
			}
			if diff := cmp.Diff(tt.wantDocs, got); diff != "" {
				t.Errorf("documents (-want +got):\n%s", diff)
			}
			var gotProblems []ParseError
			for _, p := range problems {
				gotProblems = append(gotProblems, *p)
			}
			if diff := cmp.Diff(tt.want, gotProblems); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// billionLaughs is the classic alias bomb: 9^9 (387 million) "lol"s from
// a few hundred bytes.
const billionLaughs = `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
`

// TestBillionLaughsIsBounded checks that the alias bomb is refused without
// being expanded: the memory allocated is bounded by the size of the text.
func TestBillionLaughsIsBounded(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	docs, problems := ParseDocuments([]byte(billionLaughs), DefaultLimits())
	runtime.ReadMemStats(&after)
	if len(docs) != 0 || len(problems) != 1 || !problems[0].Limit {
		t.Fatalf("got %d documents and problems %v, want the document refused by a limit", len(docs), problems)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Errorf("parsing allocated %d bytes, want under 4 MiB: aliases were expanded", alloc)
	}
}

func TestToObject(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		want    map[string]any
		wantErr string
	}{
		{
			name: "scalars resolve as YAML 1.2",
			doc: "i: 42\nneg: -7\nhex: 0x1F\noct: 0o17\nf: 1.5\nexp: 1e3\nt: true\nT: True\nn: null\ntilde: ~\n" +
				"s: hello\nq: '42'\nyes: yes\nts: 2024-01-02\nbig: 18446744073709551615\nstr: !!str 12\n",
			want: map[string]any{"i": int64(42), "neg": int64(-7), "hex": int64(31), "oct": int64(15), "f": 1.5, "exp": 1000.0,
				"t": true, "T": true, "n": nil, "tilde": nil, "s": "hello", "q": "42", "yes": "yes", "ts": "2024-01-02",
				"big": float64(math.MaxUint64), "str": "12"},
		},
		{
			name: "aliases and merge keys",
			doc:  "base: &base {a: 1, b: 2}\nderived:\n  <<: *base\n  b: 3\nlist: [*base]\n",
			want: map[string]any{
				"base":    map[string]any{"a": int64(1), "b": int64(2)},
				"derived": map[string]any{"a": int64(1), "b": int64(3)},
				"list":    []any{map[string]any{"a": int64(1), "b": int64(2)}},
			},
		},
		{name: "duplicate key", doc: "a: 1\nb:\n  c: 1\n  c: 2\n", wantErr: `line 4: duplicate key "c"`},
		{name: "infinity", doc: "a: .inf\n", wantErr: `line 1: number ".inf" cannot be represented in JSON`},
		{name: "non-string key", doc: "? [a]\n: 1\n", wantErr: "mapping keys must be strings"},
		{name: "merge of a scalar", doc: "a:\n  <<: 1\n", wantErr: "merge key (<<) must refer to a mapping"},
		{name: "not a mapping", doc: "- a\n", wantErr: "document is not a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, problems := ParseDocuments([]byte(tt.doc), DefaultLimits())
			if len(problems) > 0 || len(docs) != 1 {
				t.Fatalf("parse: %v", problems)
			}
			got, err := ToObject(docs[0].Node)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestLineOf(t *testing.T) {
	doc := `apiVersion: v1
kind: Pod
metadata:
  name: p
  labels:
    app.kubernetes.io/name: web
    app: web
spec:
  containers:
  - name: a
    image: nginx
  - name: b
    ports:
    - containerPort: 80
`
	n, err := yaml.Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]int{
		"":                                       1,
		"kind":                                   2,
		"metadata.labels.app.kubernetes.io/name": 6,
		"metadata.labels[app.kubernetes.io/name]":   6,
		"metadata.labels.app":                       7,
		"spec.containers[1]":                        12,
		"spec.containers[1].ports[0].containerPort": 14,
		"spec.containers[0].missing":                10,
		"spec.containers[7].name":                   9,
		"status.phase":                              1,
		".spec.containers[0].image":                 11,
	}
	for path, want := range tests {
		if got := LineOf(n.YNode(), path); got != want {
			t.Errorf("LineOf(%q) = %d, want %d", path, got, want)
		}
	}
}
