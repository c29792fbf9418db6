package krm

import (
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pkgserver/pkgserver/internal/result"
)

const kptfile = "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: p\n"

func file(data string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(data)} }

func link(target string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink | 0o777}
}

// finding is the part of a result these tests compare.
type finding struct {
	Severity result.Severity
	Check    string
	Path     string
	Line     int
	Message  string
}

func findings(rs []result.Result) []finding {
	var out []finding
	for _, r := range rs {
		f := finding{Severity: r.Severity, Check: r.Check, Message: r.Message}
		if r.File != nil {
			f.Path, f.Line = r.File.Path, r.File.Line
		}
		out = append(out, f)
	}
	return out
}

func TestLoad(t *testing.T) {
	limits := DefaultLimits()
	tests := []struct {
		name      string
		fsys      fs.FS
		limits    func(*Limits)
		wantFiles []string
		wantRes   []string // file#index kind/name
		want      []finding
	}{
		{
			name: "a package with resources and content",
			fsys: fstest.MapFS{
				"Kptfile":          file(kptfile),
				"app/deploy.yaml":  file("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\n"),
				"README.md":        file("# docs: not: yaml: [\n"),
				"config.json":      file("{"),
				".git/config":      file("[core]"),
				"values/empty.yml": file("# nothing\n"),
			},
			wantFiles: []string{"Kptfile", "README.md", "app/deploy.yaml", "config.json", "values/empty.yml"},
			wantRes:   []string{"Kptfile#0 Kptfile/p", "app/deploy.yaml#0 Deployment/web", "app/deploy.yaml#1 Service/web"},
		},
		{
			name:      "no Kptfile",
			fsys:      fstest.MapFS{"a.yaml": file("a: 1\n")},
			wantFiles: []string{"a.yaml"},
			wantRes:   []string{"a.yaml#0 /"},
			want:      []finding{{result.Error, CheckKptfile, "Kptfile", 0, "not a package: the directory has no Kptfile"}},
		},
		{
			name: "a subpackage is content of its package",
			fsys: fstest.MapFS{
				"Kptfile":          file(kptfile),
				"sub/Kptfile":      file(kptfile),
				"sub/cm.yaml":      file("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"),
				"sub/bad.yaml":     file("a: [\n"),
				"other/inner.yaml": file("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d}\n"),
			},
			wantFiles: []string{"Kptfile", "other/inner.yaml", "sub/Kptfile", "sub/bad.yaml", "sub/cm.yaml"},
			wantRes:   []string{"Kptfile#0 Kptfile/p", "other/inner.yaml#0 ConfigMap/d", "sub/Kptfile#0 Kptfile/p", "sub/cm.yaml#0 ConfigMap/c"},
			want:      []finding{{result.Error, CheckYAML, "sub/bad.yaml", 2, "invalid YAML: did not find expected node content"}},
		},
		{
			name: "symlinks",
			fsys: fstest.MapFS{
				"Kptfile":        file(kptfile),
				"a/up.yaml":      link("../../secret.yaml"),
				"abs.yaml":       link("/etc/passwd"),
				"a/ok.yaml":      link("../Kptfile"),
				"a/sibling.txt":  link("ok.yaml"),
				"a/dotdot/x.txt": link("../../.."),
			},
			wantFiles: []string{"Kptfile", "a/ok.yaml", "a/sibling.txt"},
			wantRes:   []string{"Kptfile#0 Kptfile/p"},
			want: []finding{
				{result.Error, CheckPath, "a/dotdot/x.txt", 0, `symlink points outside the package: "../../.."`},
				{result.Info, CheckPath, "a/ok.yaml", 0, `symlink to "../Kptfile" is kept as a link and not validated`},
				{result.Error, CheckPath, "a/up.yaml", 0, `symlink points outside the package: "../../secret.yaml"`},
				{result.Error, CheckPath, "abs.yaml", 0, `symlink points outside the package: "/etc/passwd"`},
			},
		},
		{
			name:      "file over the limit is not read",
			fsys:      fstest.MapFS{"Kptfile": file(kptfile), "big.yaml": file(strings.Repeat("#", 200))},
			limits:    func(l *Limits) { l.FileBytes = 100 },
			wantFiles: []string{"Kptfile", "big.yaml"},
			wantRes:   []string{"Kptfile#0 Kptfile/p"},
			want:      []finding{{result.Error, CheckLimits, "big.yaml", 0, "file is 200 bytes, more than the limit of 100"}},
		},
		{
			name: "package over the byte limit stops reading",
			fsys: fstest.MapFS{"Kptfile": file(kptfile), "a.yaml": file(strings.Repeat("#", 90)),
				"b.yaml": file(strings.Repeat("#", 90)), "c.yaml": file("x: 1\n")},
			limits:    func(l *Limits) { l.PackageBytes = 200 },
			wantFiles: []string{"Kptfile", "a.yaml", "b.yaml"},
			wantRes:   []string{"Kptfile#0 Kptfile/p"},
			want:      []finding{{result.Error, CheckLimits, "b.yaml", 0, "package holds more than 200 bytes; the rest was not read"}},
		},
		{
			name:      "too many files",
			fsys:      fstest.MapFS{"Kptfile": file(kptfile), "a": file(""), "b": file(""), "c": file("")},
			limits:    func(l *Limits) { l.PackageFiles = 2 },
			wantFiles: []string{"Kptfile", "a"},
			wantRes:   []string{"Kptfile#0 Kptfile/p"},
			want:      []finding{{result.Error, CheckLimits, "b", 0, "package holds more than 2 files; the rest were not read"}},
		},
		{
			name: "names that escape",
			fsys: rawNames{fstest.MapFS{"Kptfile": file(kptfile), "dir/x": file("")},
				map[string][]string{".": {"..", "a/b"}, "dir": {"nul\x00"}}},
			wantFiles: []string{"Kptfile", "dir/x"},
			wantRes:   []string{"Kptfile#0 Kptfile/p"},
			want: []finding{
				{result.Error, CheckPath, "", 0, `file name ".." escapes the package or is not a valid path element`},
				{result.Error, CheckPath, "", 0, `file name "a/b" escapes the package or is not a valid path element`},
				{result.Error, CheckPath, "dir", 0, "file name \"nul\\x00\" escapes the package or is not a valid path element"},
			},
		},
		{
			name: "YAML problems",
			fsys: fstest.MapFS{"Kptfile": file(kptfile), "bad.yaml": file("a: [\n"), "list.yaml": file("- a\n"),
				"dup.yaml": file("a: 1\na: 2\n")},
			wantFiles: []string{"Kptfile", "bad.yaml", "dup.yaml", "list.yaml"},
			wantRes:   []string{"Kptfile#0 Kptfile/p"},
			want: []finding{
				{result.Error, CheckYAML, "bad.yaml", 2, "invalid YAML: did not find expected node content"},
				{result.Error, CheckYAML, "dup.yaml", 2, `duplicate key "a"`},
				{result.Error, CheckYAML, "list.yaml", 1, "YAML document is not a mapping, so it cannot be a KRM resource"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := limits
			if tt.limits != nil {
				tt.limits(&l)
			}
			pkg := Load(tt.fsys, l)
			var files, res []string
			for _, f := range pkg.Files {
				files = append(files, f.Path)
			}
			for _, r := range pkg.Resources {
				res = append(res, fmt.Sprintf("%s#%d %s/%s", r.File, r.Index, r.Kind, r.Name))
			}
			if diff := cmp.Diff(tt.wantFiles, files); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantRes, res); diff != "" {
				t.Errorf("resources (-want +got):\n%s", diff)
			}
			result.Sort(pkg.Findings)
			got := findings(pkg.Findings)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}

// rawNames adds directory entries with names as a crafted git tree could
// hold them, which fstest.MapFS cannot represent.
type rawNames struct {
	fstest.MapFS
	extra map[string][]string
}

func (r rawNames) ReadDir(name string) ([]fs.DirEntry, error) {
	entries, err := r.MapFS.ReadDir(name)
	for _, n := range r.extra[name] {
		entries = append(entries, rawEntry(n))
	}
	return entries, err
}

type rawEntry string

func (e rawEntry) Name() string               { return string(e) }
func (e rawEntry) IsDir() bool                { return false }
func (e rawEntry) Type() fs.FileMode          { return 0 }
func (e rawEntry) Info() (fs.FileInfo, error) { return rawInfo(e), nil }

type rawInfo string

func (i rawInfo) Name() string       { return string(i) }
func (i rawInfo) Size() int64        { return 0 }
func (i rawInfo) Mode() fs.FileMode  { return 0 }
func (i rawInfo) ModTime() time.Time { return time.Time{} }
func (i rawInfo) IsDir() bool        { return false }
func (i rawInfo) Sys() any           { return nil }

func TestFindPackages(t *testing.T) {
	fsys := fstest.MapFS{
		"a/Kptfile":         file(kptfile),
		"a/sub/Kptfile":     file(kptfile),
		"b/c/Kptfile":       file(kptfile),
		"b/readme.md":       file(""),
		".git/x/Kptfile":    file(kptfile),
		"d/not-a-pkg.yaml":  file(""),
		"e/Kptfile/is-dir":  file(""),
		"f/g/h/i/j/Kptfile": file(kptfile),
	}
	got, err := FindPackages(fsys, ".")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "b/c", "f/g/h/i/j"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
