package selector

import (
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
)

// FuzzLabels parses arbitrary label selectors: parsing never panics, a
// selector accepted has at most MaxRequirements requirements, and its
// string form parses again to the same requirements, which select the same
// label sets.
func FuzzLabels(f *testing.F) {
	for _, s := range []string{"a=b", "a==b,c!=d", "x in (a,b),y notin (c),!z,w", "x>3,y<-4",
		"pkg.pkgserver.dev/latest-revision=true", "a.b/c-d_e=f.g", "a in ()", "a=b,", "!", "a in (b",
		strings.Repeat("k=v,", 100) + "k=v", "a=\x00", " a = b ", "a=b\\,c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := Labels(s)
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "invalid labelSelector: ") && !strings.HasPrefix(msg, "labelSelector has ") {
				t.Fatalf("Labels(%q): error %q says neither", s, msg)
			}
			return
		}
		reqs, _ := sel.Requirements()
		if len(reqs) > MaxRequirements {
			t.Fatalf("Labels(%q) accepted %d requirements", s, len(reqs))
		}
		again, err := Labels(sel.String())
		if err != nil {
			t.Fatalf("Labels(%q).String() = %q does not parse: %v", s, sel.String(), err)
		}
		reqs2, _ := again.Requirements()
		if !reflect.DeepEqual(reqs, reqs2) || again.String() != sel.String() {
			t.Fatalf("Labels(%q) = %q parses again as %q", s, sel, again)
		}
		// The label sets the requirements name: each key with each of its
		// values, and without the key.
		sets := []labels.Set{{}}
		for _, r := range reqs {
			for _, v := range r.ValuesUnsorted() {
				sets = append(sets, labels.Set{r.Key(): v})
			}
		}
		for _, set := range sets {
			if sel.Matches(set) != again.Matches(set) {
				t.Fatalf("Labels(%q) and its string form %q disagree on %v", s, sel, set)
			}
		}
	})
}

// FuzzFields parses arbitrary field selectors: parsing never panics, a
// selector accepted has at most MaxRequirements requirements on supported
// fields, its string form parses again to the same, and Equalities agrees
// with it: every field it returns is required equal to its value.
func FuzzFields(f *testing.F) {
	for _, s := range []string{"metadata.name=a", "metadata.name==a,spec.lifecycle!=Draft", `metadata.name=a\,b\=c\\`,
		"metadata.name=", "metadata.name=a,metadata.name=b", "spec.other=x", `metadata.name=\`, "=a", ",",
		strings.Repeat("metadata.name=a,", 100) + "metadata.name=a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := Fields(s, revisionFields)
		eq, eqErr := Equalities(s, revisionFields)
		if err != nil {
			if eqErr == nil {
				t.Fatalf("Equalities(%q) accepts what Fields refuses: %v", s, err)
			}
			return
		}
		reqs := sel.Requirements()
		if len(reqs) > MaxRequirements {
			t.Fatalf("Fields(%q) accepted %d requirements", s, len(reqs))
		}
		again, err := Fields(sel.String(), revisionFields)
		if err != nil {
			t.Fatalf("Fields(%q).String() = %q does not parse: %v", s, sel.String(), err)
		}
		if !reflect.DeepEqual(reqs, again.Requirements()) || again.String() != sel.String() {
			t.Fatalf("Fields(%q) = %q parses again as %q", s, sel, again)
		}
		if eqErr != nil {
			return
		}
		if !sel.Matches(fields.Set(eq)) {
			t.Fatalf("Equalities(%q) = %v, which the selector does not match", s, eq)
		}
		for _, r := range reqs {
			if eq[r.Field] != r.Value || r.Value == "" {
				t.Fatalf("Equalities(%q) = %v, missing %s=%q", s, eq, r.Field, r.Value)
			}
		}
	})
}
