package lifecycle

import (
	"strings"
	"testing"
)

func dep(args string, replicas int) []byte {
	return []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: " + string(rune('0'+replicas)) +
		"\n  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx\n        args: [" + args + "]\n")
}

// TestMergeScalarList: a list without merge keys changed here and upstream
// is a conflict: kyaml would keep upstream's whole.
func TestMergeScalarList(t *testing.T) {
	o := map[string][]byte{"Kptfile": []byte("x"), "d.yaml": dep("a, b", 1)}
	u := map[string][]byte{"Kptfile": []byte("x"), "d.yaml": dep("a, B-up", 1)}
	l := map[string][]byte{"Kptfile": []byte("x"), "d.yaml": dep("A-local, b", 3)}
	out, conflicts, err := merge3(o, u, l)
	if err != nil {
		t.Fatal(err)
	}
	if len(conflicts) != 1 || !strings.Contains(conflicts[0].Message, "args[0]") || !strings.Contains(conflicts[0].Message, "would be lost") {
		t.Errorf("conflicts %v; merged:\n%s", conflicts, out["d.yaml"])
	}
}

func cdep(extra string) []byte {
	return []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx\n" + extra)
}

// TestMergeKeyedList: containers added here and upstream, by name, merge
// without conflict.
func TestMergeKeyedList(t *testing.T) {
	o := map[string][]byte{"d.yaml": cdep("")}
	u := map[string][]byte{"d.yaml": cdep("      - name: logger\n        image: fluent\n")}
	l := map[string][]byte{"d.yaml": cdep("      - name: sidecar\n        image: envoy\n")}
	out, conflicts, err := merge3(o, u, l)
	if err != nil {
		t.Fatal(err)
	}
	if len(conflicts) != 0 || !strings.Contains(string(out["d.yaml"]), "sidecar") || !strings.Contains(string(out["d.yaml"]), "logger") {
		t.Errorf("conflicts %v; merged:\n%s", conflicts, out["d.yaml"])
	}
}
