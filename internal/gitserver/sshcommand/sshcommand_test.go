package sshcommand

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		raw, service, path string
		ok                 bool
	}{
		{"git-upload-pack '/default/catalog.git'", UploadPack, "/default/catalog.git", true},
		{"git-receive-pack 'default/catalog.git'", ReceivePack, "default/catalog.git", true},
		{"git-upload-pack /default/catalog.git", UploadPack, "/default/catalog.git", true},
		{"  git-upload-pack   '/a/b.git'  ", UploadPack, "/a/b.git", true},
		{"git-upload-archive '/a/b.git'", "", "", false},
		{"git-upload-pack", "", "", false},
		{"git-upload-pack ''", "", "", false},
		{"git-upload-pack '/a/b.git' --evil", "", "", false},
		{"git-upload-pack '/a/b'; rm -rf /'", "", "", false},
		{"git-upload-pack \"/a/b.git\"", "", "", false},
		{"git-upload-pack '/a/b\\.git'", "", "", false},
		{"git-upload-pack '/a/b.git\r'", "", "", false},
		{"git-upload-pack '/a/\x00b.git'", "", "", false},
		{"git-upload-pack '/a/\u00a0b.git'", "", "", false},
		{"git-upload-pack '/a/\xffb.git'", "", "", false},
		{"sh -c 'git-upload-pack /a/b.git'", "", "", false},
	} {
		service, path, err := Parse(tc.raw)
		if (err == nil) != tc.ok || service != tc.service || path != tc.path {
			t.Errorf("Parse(%q) = %q, %q, %v; want %q, %q, ok=%v", tc.raw, service, path, err, tc.service, tc.path, tc.ok)
		}
	}
}

// FuzzParse: whatever the line, Parse accepts only the two services with a
// path free of quotes, backslashes, spaces and control characters, and
// what it accepts reads back the same from the line git itself would send
// for it, quoted or bare.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"git-upload-pack '/default/catalog.git'",
		"git-receive-pack 'default/catalog.git'",
		"git-upload-pack /default/catalog.git",
		"git-upload-archive '/a/b.git'",
		"git-upload-pack '/a/b'; rm -rf /'",
		"git-upload-pack '/a/b.git\r'",
		"git-upload-pack '''",
		"git-receive-pack '",
		"git-upload-pack  '\u00a0'",
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		service, path, err := Parse(raw)
		if err != nil {
			if service != "" || path != "" {
				t.Fatalf("Parse(%q) refused (%v) yet returned %q, %q", raw, err, service, path)
			}
			return
		}
		if service != UploadPack && service != ReceivePack {
			t.Fatalf("Parse(%q) accepted service %q", raw, service)
		}
		if path == "" || strings.ContainsFunc(path, func(r rune) bool {
			return r == '\'' || r == '"' || r == '\\' || unicode.IsSpace(r) || unicode.IsControl(r)
		}) || !utf8.ValidString(path) {
			t.Fatalf("Parse(%q) accepted path %q", raw, path)
		}
		for _, line := range []string{service + " '" + path + "'", service + " " + path} {
			s, p, err := Parse(line)
			if err != nil || s != service || p != path {
				t.Fatalf("Parse(%q) = %q, %q, %v; want %q, %q as from %q", line, s, p, err, service, path, raw)
			}
		}
	})
}
