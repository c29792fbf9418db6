package selector

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var revisionFields = []string{"metadata.name", "metadata.namespace", "spec.lifecycle"}

func TestLabels(t *testing.T) {
	many := func(n int) string {
		terms := make([]string, n)
		for i := range terms {
			terms[i] = "k" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + "=v"
		}
		return strings.Join(terms, ",")
	}
	for _, tt := range []struct {
		in, want, err string
	}{
		{in: "a=b, c in (e,d),!f,g", want: "a=b,c in (d,e),!f,g"},
		{in: "a==b", want: "a==b"},
		{in: "x>3,y<4", want: "x>3,y<4"},
		{in: many(MaxRequirements), want: ""},
		{in: "a===b", err: "invalid labelSelector: "},
		{in: "a=b,", err: "invalid labelSelector: "},
		{in: strings.Repeat("k=v,", 998) + "k=v", err: "labelSelector has 999 requirements: at most 100 are supported"},
	} {
		sel, err := Labels(tt.in)
		switch {
		case tt.err != "":
			if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
				t.Errorf("Labels(%.40q) = %v, want error %q", tt.in, err, tt.err)
			}
		case err != nil:
			t.Errorf("Labels(%.40q): %v", tt.in, err)
		case tt.want != "" && sel.String() != tt.want:
			t.Errorf("Labels(%q) = %s, want %s", tt.in, sel, tt.want)
		}
	}
}

func TestEqualities(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want map[string]string
		err  string
	}{
		{in: "metadata.name=a,spec.lifecycle==Draft", want: map[string]string{"metadata.name": "a", "spec.lifecycle": "Draft"}},
		{in: "metadata.name=a,metadata.name=a", want: map[string]string{"metadata.name": "a"}},
		{in: `metadata.name=a\,b`, want: map[string]string{"metadata.name": "a,b"}},
		{in: "metadata.name!=a", err: `fieldSelector "metadata.name!=a": only = and == are supported`},
		{in: "metadata.name=a,metadata.name=b", err: "fieldSelector: metadata.name is given two values"},
		{in: "metadata.name=", err: "fieldSelector: metadata.name needs a value"},
		{in: "spec.other=x", err: `fieldSelector: field "spec.other" is not supported (metadata.name, metadata.namespace, spec.lifecycle)`},
		{in: `metadata.name=a\`, err: "invalid fieldSelector: "},
		{in: strings.Repeat("metadata.name=a,", 100) + "metadata.name=a", err: "fieldSelector has 101 requirements: at most 100 are supported"},
	} {
		got, err := Equalities(tt.in, revisionFields)
		if tt.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
				t.Errorf("Equalities(%.40q) = %v, want error %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Equalities(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(got, tt.want); diff != "" {
			t.Errorf("Equalities(%q) (-got +want):\n%s", tt.in, diff)
		}
	}
}
