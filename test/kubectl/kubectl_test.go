package e2e

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestKubectl runs the real kubectl, with its default settings, against a
// pkgserver serving over TLS, each command a subtest. The server, a hosted
// repository "blueprints" and its published revision blueprints.nginx.first
// are shared; each subtest that writes makes its own objects.
func TestKubectl(t *testing.T) {
	s := startServer(t)
	s.newRepo(t, hostedRepo("blueprints", "60s"))
	s.publish(t, s.newDraft(t, "blueprints", "nginx", "first", map[string]string{"tier": "gold"}))

	for _, tc := range []struct {
		name string
		test func(*testing.T, *server)
	}{
		{"version", testVersion},
		{"api-resources", testAPIResources},
		{"explain", testExplain},
		{"get", testGet},
		{"get -o wide", testGetWide},
		{"get -o yaml", testGetYAML},
		{"get repositories", testGetRepositories},
		{"get packagerevisionresources", testGetResources},
		{"get --raw", testGetRaw},
		{"get -w", testGetWatch},
		{"get -w -l", testGetWatchSelector},
		{"get repositories -w", testGetRepositoriesWatch},
		{"create", testCreate},
		{"delete", testDelete},
		{"apply", testApply},
		{"apply --server-side", testApplyServerSide},
		{"diff", testDiff},
		{"edit", testEdit},
		{"label", testLabel},
		{"annotate", testAnnotate},
		{"patch", testPatch},
		{"wait repository", testWaitRepository},
		{"wait packagerevision", testWaitRevision},
		{"auth can-i", testAuthCanI},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, s) })
	}
}

func testVersion(t *testing.T, s *server) {
	out := s.kubectl(t, "version")
	if !regexp.MustCompile(`(?m)^Server Version: v\S+$`).MatchString(out) {
		t.Errorf("kubectl version shows no server version:\n%s", out)
	}
	var v struct {
		Server *struct{ GitVersion, Major, Minor, Platform string } `json:"serverVersion"`
	}
	out = s.kubectl(t, "version", "-o", "json")
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("kubectl version -o json: %v\n%s", err, out)
	}
	if v.Server == nil || v.Server.GitVersion == "" || v.Server.Platform == "" {
		t.Errorf("serverVersion is %+v, want a gitVersion and a platform", v.Server)
	}
}

func testAPIResources(t *testing.T, s *server) {
	out := s.kubectl(t, "api-resources", "-o", "wide")
	rows := table(t, out)
	want := map[string]struct {
		group, kind string
		verbs       []string
	}{
		"packagerevisions":         {"pkg.pkgserver.dev/v1alpha1", "PackageRevision", []string{"create", "delete", "get", "list", "patch", "update", "watch"}},
		"packagerevisionresources": {"pkg.pkgserver.dev/v1alpha1", "PackageRevisionResources", []string{"get", "list", "patch", "update", "watch"}},
		"repositories":             {"config.pkg.pkgserver.dev/v1alpha1", "Repository", []string{"create", "delete", "get", "list", "patch", "update", "watch"}},
	}
	for name, w := range want {
		i := slices.IndexFunc(rows, func(r map[string]string) bool { return r["NAME"] == name })
		if i < 0 {
			t.Errorf("api-resources lists no %s", name)
			continue
		}
		r := rows[i]
		if r["APIVERSION"] != w.group || r["KIND"] != w.kind || r["NAMESPACED"] != "true" {
			t.Errorf("%s: APIVERSION %q KIND %q NAMESPACED %q, want %q %q true", name, r["APIVERSION"], r["KIND"], r["NAMESPACED"], w.group, w.kind)
		}
		// kubectl prints the verbs as "create,delete,…" (older ones as "[create delete …]").
		verbs := strings.FieldsFunc(strings.Trim(r["VERBS"], "[]"), func(c rune) bool { return c == ',' || c == ' ' })
		for _, v := range w.verbs {
			if !slices.Contains(verbs, v) {
				t.Errorf("%s: verbs %v lack %s", name, verbs, v)
			}
		}
	}
}

func testExplain(t *testing.T, s *server) {
	out := s.kubectl(t, "explain", "packagerevisions.spec")
	for _, re := range []string{
		`(?m)^GROUP:\s+pkg\.pkgserver\.dev$`,
		`(?m)^KIND:\s+PackageRevision$`,
		`(?m)^VERSION:\s+v1alpha1$`,
		`(?m)^FIELD:\s+spec\b`,
		`(?m)^\s+packageName\s+<string>`,
		`(?m)^\s+repository\s+<string>`,
		`(?m)^\s+workspaceName\s+<string>`,
		`(?m)^\s+lifecycle\s+<string>`,
		`(?m)^\s+tasks\s+<\[\]\w+>`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("kubectl explain packagerevisions.spec: no line matching %s", re)
		}
	}
	out = s.kubectl(t, "explain", "repositories.spec.git")
	if !regexp.MustCompile(`(?m)^\s+url\s+<string>`).MatchString(out) {
		t.Errorf("kubectl explain repositories.spec.git lists no url")
	}
}

// revisionColumns are the columns of a package revision's row, porchctl's.
var revisionColumns = []string{"NAME", "PACKAGE", "WORKSPACE", "REVISION", "LATEST", "LIFECYCLE", "REPOSITORY"}

// checkRevisionTable checks a table of package revisions: the columns, the
// published blueprints.nginx.first's row, and no <unknown> anywhere (an AGE
// without creationTimestamp).
func checkRevisionTable(t *testing.T, out string) {
	t.Helper()
	header := columns(out)
	if len(header) < len(revisionColumns) || !slices.Equal(header[:len(revisionColumns)], revisionColumns) {
		t.Errorf("columns %q, want %q first", header, revisionColumns)
	}
	if strings.Contains(out, "<unknown>") {
		t.Errorf("the table shows <unknown>:\n%s", out)
	}
	rows := table(t, out)
	i := slices.IndexFunc(rows, func(r map[string]string) bool { return r["NAME"] == "blueprints.nginx.first" })
	if i < 0 {
		t.Fatalf("no row of blueprints.nginx.first:\n%s", out)
	}
	want := map[string]string{"NAME": "blueprints.nginx.first", "PACKAGE": "nginx", "WORKSPACE": "first",
		"REVISION": "v1", "LATEST": "true", "LIFECYCLE": "Published", "REPOSITORY": "blueprints"}
	for col, v := range want {
		if got := rows[i][col]; got != v {
			t.Errorf("blueprints.nginx.first: %s is %q, want %q", col, got, v)
		}
	}
	if age, ok := rows[i]["AGE"]; ok && !regexp.MustCompile(`^\d+[smhdy]`).MatchString(age) {
		t.Errorf("blueprints.nginx.first: AGE is %q", age)
	}
}

func testGet(t *testing.T, s *server) {
	checkRevisionTable(t, s.kubectl(t, "get", "packagerevisions"))
	checkRevisionTable(t, s.kubectl(t, "get", "packagerevision", "blueprints.nginx.first"))
	// A label of the Kptfile selects, through the short name: nginx's
	// revisions (v1 and the branch's), whose Kptfile says tier: gold.
	out := s.kubectl(t, "get", "pr", "-l", "tier=gold", "-o", "name")
	names := strings.Fields(out)
	if !slices.Contains(names, "packagerevision.pkg.pkgserver.dev/blueprints.nginx.first") {
		t.Errorf("get pr -l tier=gold lists no blueprints.nginx.first: %q", out)
	}
	for _, n := range names {
		if !strings.HasPrefix(n, "packagerevision.pkg.pkgserver.dev/blueprints.nginx.") {
			t.Errorf("get pr -l tier=gold lists %s", n)
		}
	}
	s.kubectlFails(t, []string{`packagerevisions.pkg.pkgserver.dev "blueprints.nginx.none" not found`},
		"get", "packagerevision", "blueprints.nginx.none")
}

func testGetWide(t *testing.T, s *server) {
	checkRevisionTable(t, s.kubectl(t, "get", "packagerevisions", "-o", "wide"))
}

func testGetYAML(t *testing.T, s *server) {
	list := fromYAML(t, s.kubectl(t, "get", "packagerevisions", "-o", "yaml"))
	items, _ := list["items"].([]any)
	i := slices.IndexFunc(items, func(it any) bool { return str(it, "metadata", "name") == "blueprints.nginx.first" })
	if i < 0 {
		t.Fatalf("no blueprints.nginx.first in %v", list)
	}
	pr := items[i]
	for _, f := range []struct {
		path []string
		want string
	}{
		{[]string{"apiVersion"}, "pkg.pkgserver.dev/v1alpha1"},
		{[]string{"kind"}, "PackageRevision"},
		{[]string{"metadata", "namespace"}, "default"},
		{[]string{"metadata", "labels", "tier"}, "gold"},
		{[]string{"metadata", "labels", "pkg.pkgserver.dev/latest-revision"}, "true"},
		{[]string{"spec", "packageName"}, "nginx"},
		{[]string{"spec", "workspaceName"}, "first"},
		{[]string{"spec", "revision"}, "v1"},
		{[]string{"spec", "lifecycle"}, "Published"},
		{[]string{"spec", "repository"}, "blueprints"},
	} {
		if got := str(pr, f.path...); got != f.want {
			t.Errorf("%s is %q, want %q", strings.Join(f.path, "."), got, f.want)
		}
	}
	for _, f := range []string{"uid", "creationTimestamp", "resourceVersion"} {
		if str(pr, "metadata", f) == "" {
			t.Errorf("metadata.%s is missing", f)
		}
	}
	if g, _ := field(pr, "metadata", "generation").(float64); g < 1 {
		t.Errorf("metadata.generation is %v", field(pr, "metadata", "generation"))
	}
	one := fromYAML(t, s.kubectl(t, "get", "packagerevision", "blueprints.nginx.first", "-o", "yaml"))
	if str(one, "metadata", "uid") != str(pr, "metadata", "uid") {
		t.Errorf("the revision's uid is %q alone and %q in the list", str(one, "metadata", "uid"), str(pr, "metadata", "uid"))
	}
}

func testGetRepositories(t *testing.T, s *server) {
	out := s.kubectl(t, "get", "repositories")
	want := []string{"NAME", "TYPE", "DEPLOYMENT", "READY", "ADDRESS"}
	if header := columns(out); len(header) < len(want) || !slices.Equal(header[:len(want)], want) {
		t.Errorf("columns %q, want %q first", header, want)
	}
	if strings.Contains(out, "<unknown>") {
		t.Errorf("the table shows <unknown>:\n%s", out)
	}
	rows := table(t, out)
	i := slices.IndexFunc(rows, func(r map[string]string) bool { return r["NAME"] == "blueprints" })
	if i < 0 {
		t.Fatalf("no row of blueprints:\n%s", out)
	}
	r := rows[i]
	if r["TYPE"] != "git" || r["DEPLOYMENT"] != "false" || r["READY"] != "True" || !strings.HasSuffix(r["ADDRESS"], "/default/blueprints.git") {
		t.Errorf("blueprints: %v", r)
	}
}

func testGetResources(t *testing.T, s *server) {
	out := s.kubectl(t, "get", "packagerevisionresources", "-o", "name")
	if !slices.Contains(strings.Fields(out), "packagerevisionresources.pkg.pkgserver.dev/blueprints.nginx.first") {
		t.Errorf("get packagerevisionresources lists no blueprints.nginx.first:\n%s", out)
	}
	res := fromYAML(t, s.kubectl(t, "get", "packagerevisionresources", "blueprints.nginx.first", "-o", "yaml"))
	if kpt := str(res, "spec", "resources", "Kptfile"); !strings.Contains(kpt, "kind: Kptfile") {
		t.Errorf("spec.resources.Kptfile is %q", kpt)
	}
}

// testGetRaw reads paths of the API as they are: an unknown one is 404 as
// a Status, so kubectl shows NotFound.
func testGetRaw(t *testing.T, s *server) {
	for _, path := range []string{
		"/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/nothing",
		"/apis/nothing.example.com/v1",
		"/nothing",
	} {
		s.kubectlFails(t, []string{"(NotFound)"}, "get", "--raw", path)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(s.kubectl(t, "get", "--raw", "/version")), &v); err != nil || v["gitVersion"] == nil {
		t.Errorf("/version: %v %v", v, err)
	}
}

func testGetWatch(t *testing.T, s *server) {
	w := s.start(t, "get", "packagerevisions", "-w")
	w.waitLine(t, "the published revision's row", rowOf("blueprints.nginx.first", "Published"))
	name := s.newDraft(t, "blueprints", "watched", "one", nil)
	w.waitLine(t, "the new draft's row", rowOf(name, "Draft"))
	s.setLifecycle(t, name, "Proposed", false)
	w.waitLine(t, "the proposed draft's row", rowOf(name, "Proposed"))
	w.stop()
	if e := w.stderr.String(); strings.Contains(e, "error") {
		t.Errorf("kubectl get -w wrote an error:\n%s", e)
	}
}

// testGetWatchSelector watches with a label selector: it must show nothing
// of revisions that never matched it.
func testGetWatchSelector(t *testing.T, s *server) {
	w := s.start(t, "get", "packagerevisions", "-w", "-l", "tier=gold")
	w.waitLine(t, "the published revision's row", rowOf("blueprints.nginx.first"))
	name := s.newDraft(t, "blueprints", "watched", "two", nil)
	s.setLifecycle(t, name, "Proposed", false)
	gold := s.newDraft(t, "blueprints", "watched", "gold", map[string]string{"tier": "gold"})
	// Events come in order: once the gold draft is shown, anything sent of
	// the other draft would have been shown before it.
	w.waitLine(t, "the gold draft's row", rowOf(gold))
	w.stop()
	for _, l := range w.lines {
		if rowOf(name)(l) {
			t.Errorf("get -w -l tier=gold shows %s, which never matched: %q", name, l)
		}
	}
	if e := w.stderr.String(); strings.Contains(e, "error") {
		t.Errorf("kubectl get -w -l wrote an error:\n%s", e)
	}
}

func testGetRepositoriesWatch(t *testing.T, s *server) {
	w := s.start(t, "get", "repositories", "-w")
	w.waitLine(t, "blueprints' row", rowOf("blueprints"))
	s.mustDo(t, 201, "POST", reposPath, hostedRepo("watched", "60s"))
	w.waitLine(t, "the new repository's row", rowOf("watched"))
	w.stop()
	if e := w.stderr.String(); strings.Contains(e, "error") {
		t.Errorf("kubectl get repositories -w wrote an error:\n%s", e)
	}
}

// rowOf matches a line of a table whose first column is name and that
// holds each of cells.
func rowOf(name string, cells ...string) func(string) bool {
	return func(line string) bool {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != name {
			return false
		}
		for _, c := range cells {
			if !slices.Contains(f, c) {
				return false
			}
		}
		return true
	}
}

// columns are the column names of kubectl's table output: its first line,
// split where two or more spaces separate names.
func columns(out string) []string {
	header, _, _ := strings.Cut(out, "\n")
	return regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(header), -1)
}

// table reads kubectl's table output into rows, column name to cell. Cells
// are where their column's name starts in the header (kubectl aligns them
// with a tabwriter), so empty cells are read right.
func table(t *testing.T, out string) []map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 || lines[0] == "" {
		t.Fatalf("no table:\n%s", out)
	}
	header := lines[0]
	names := columns(header)
	starts := make([]int, len(names))
	from := 0
	for i, n := range names {
		j := strings.Index(header[from:], n)
		if j < 0 {
			t.Fatalf("cannot read the header %q", header)
		}
		starts[i] = from + j
		from = starts[i] + len(n)
	}
	var rows []map[string]string
	for _, line := range lines[1:] {
		row := map[string]string{}
		for i, n := range names {
			if starts[i] >= len(line) {
				continue
			}
			end := len(line)
			if i+1 < len(names) && starts[i+1] < end {
				end = starts[i+1]
			}
			row[n] = strings.TrimSpace(line[starts[i]:end])
		}
		rows = append(rows, row)
	}
	return rows
}
