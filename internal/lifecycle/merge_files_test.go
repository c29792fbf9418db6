package lifecycle

import (
	"testing"
)

// A file the local package added, empty (.gitkeep), is kept by an upgrade.
func TestMergeKeepsLocalEmptyFile(t *testing.T) {
	o := map[string][]byte{"d.yaml": cdep("")}
	u := map[string][]byte{"d.yaml": cdep("      - name: logger\n        image: fluent\n")}
	l := map[string][]byte{"d.yaml": cdep(""), "data/.gitkeep": {}}
	out, conflicts, err := merge3(o, u, l)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := out["data/.gitkeep"]; !ok {
		t.Errorf("local empty file dropped; conflicts %v; files %v", conflicts, keys(out))
	}
}

// Two YAML files that are not KRM resources (no kind, no name).
func TestMergeTwoPlainYAML(t *testing.T) {
	o := map[string][]byte{"d.yaml": cdep(""), "values.yaml": []byte("a: 1\n"), "other.yaml": []byte("b: 1\n")}
	u := map[string][]byte{"d.yaml": cdep("      - name: logger\n        image: fluent\n"), "values.yaml": []byte("a: 1\n"), "other.yaml": []byte("b: 1\n")}
	l := map[string][]byte{"d.yaml": cdep(""), "values.yaml": []byte("a: 2\n"), "other.yaml": []byte("b: 1\n")}
	out, conflicts, err := merge3(o, u, l)
	if err != nil {
		t.Fatalf("merge3: %v", err)
	}
	if string(out["values.yaml"]) != "a: 2\n" || string(out["other.yaml"]) != "b: 1\n" {
		t.Errorf("conflicts %v; values.yaml %q other.yaml %q", conflicts, out["values.yaml"], out["other.yaml"])
	}
}

// One plain YAML file changed here.
func TestMergeOnePlainYAML(t *testing.T) {
	o := map[string][]byte{"d.yaml": cdep(""), "values.yaml": []byte("a: 1\nlist: [x]\n")}
	u := map[string][]byte{"d.yaml": cdep("      - name: logger\n        image: fluent\n"), "values.yaml": []byte("a: 1\nlist: [x]\n")}
	l := map[string][]byte{"d.yaml": cdep(""), "values.yaml": []byte("a: 2\nlist: [x, y]\n")}
	out, conflicts, err := merge3(o, u, l)
	if err != nil {
		t.Fatalf("merge3: %v", err)
	}
	if string(out["values.yaml"]) != "a: 2\nlist: [x, y]\n" {
		t.Errorf("conflicts %v; values.yaml %q", conflicts, out["values.yaml"])
	}
}

func keys(m map[string][]byte) []string {
	var k []string
	for p := range m {
		k = append(k, p)
	}
	return k
}

// A YAML file of only comments (or empty) added or kept locally.
func TestMergeCommentOnlyYAML(t *testing.T) {
	o := map[string][]byte{"d.yaml": cdep(""), "notes.yaml": []byte("# nothing yet\n")}
	u := map[string][]byte{"d.yaml": cdep("      - name: logger\n        image: fluent\n"), "notes.yaml": []byte("# nothing yet\n")}
	l := map[string][]byte{"d.yaml": cdep(""), "notes.yaml": []byte("# nothing yet\n"), "empty.yaml": {}}
	out, conflicts, err := merge3(o, u, l)
	if err != nil {
		t.Fatalf("merge3: %v", err)
	}
	t.Logf("conflicts %v files %v", conflicts, keys(out))
	if _, ok := out["notes.yaml"]; !ok {
		t.Errorf("notes.yaml dropped")
	}
	if _, ok := out["empty.yaml"]; !ok {
		t.Errorf("empty.yaml dropped")
	}
}
