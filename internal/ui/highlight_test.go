package ui

import (
	"html"
	"net/http"
	"regexp"
	"testing"

	"github.com/pkgserver/pkgserver/internal/result"
)

// TestHighlightLine: tokens get their classes, and every line's text is
// kept, escaped, whatever it holds.
func TestHighlightLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"apiVersion: v1", `<span class="y-key">apiVersion</span>: v1`},
		{"  replicas: 3 # three", `  <span class="y-key">replicas</span>: <span class="y-num">3</span> <span class="y-com"># three</span>`},
		{"- name: \"a<b>\"", `- <span class="y-key">name</span>: <span class="y-str">&#34;a&lt;b&gt;&#34;</span>`},
		{"---", `<span class="y-doc">---</span>`},
		{"# <script>", `<span class="y-com"># &lt;script&gt;</span>`},
		{"image: nginx:1.27", `<span class="y-key">image</span>: nginx:1.27`},
		{"url: http://x/y", `<span class="y-key">url</span>: http://x/y`},
		{"  - *anchor", `  - <span class="y-ref">*anchor</span>`},
		{"'quoted key': yes", `<span class="y-key">&#39;quoted key&#39;</span>: <span class="y-num">yes</span>`},
		{"plain <text> & more", `plain &lt;text&gt; &amp; more`},
	} {
		if got := string(highlightLine(tc.in, true)); got != tc.want {
			t.Errorf("%q:\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
	tags := regexp.MustCompile(`<[^>]*>`)
	for _, in := range []string{"a: 'it''s' # c", `k: "a\"b" x`, "- - - x: y", "key:value", ": x", "\"unterminated: x", "x: <b>&amp;"} {
		got := html.UnescapeString(tags.ReplaceAllString(string(highlightLine(in, true)), ""))
		if got != in {
			t.Errorf("%q highlighted reads %q", in, got)
		}
	}
	if got := string(highlightLine("<b>", false)); got != "&lt;b&gt;" {
		t.Errorf("a file that is not YAML: %s", got)
	}
}

// TestTreeOf: files nest by directory, in path order.
func TestTreeOf(t *testing.T) {
	files := []file{{Path: "Kptfile"}, {Path: "apps/a.yaml"}, {Path: "apps/sub/b.yaml", Lines: []line{{Findings: []finding{{}}}}}, {Path: "z.yaml"}}
	var show func(ns []*treeNode) string
	show = func(ns []*treeNode) string {
		out := ""
		for _, n := range ns {
			if n.Path != "" {
				out += n.Path
				if n.Findings > 0 {
					out += "!"
				}
				out += " "
				continue
			}
			out += n.Name + "/[" + show(n.Children) + "] "
		}
		return out
	}
	if got, want := show(treeOf(files)), "Kptfile apps/[apps/a.yaml sub/[apps/sub/b.yaml! ] ] z.yaml "; got != want {
		t.Errorf("tree:\n got %s\nwant %s", got, want)
	}
}

// TestNegotiation: gzip is taken when listed with a weight above 0, and an
// If-None-Match list matches weakly.
func TestNegotiation(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   bool
	}{{"gzip", true}, {"gzip, deflate, br", true}, {"deflate, gzip;q=0.5", true}, {"gzip;q=0", false}, {"gzip;q=0.0", false},
		{"gzip; q=0.000", false}, {"*", true}, {"*;q=0", false}, {"identity", false}, {"", false}, {"GZIP", true}} {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Accept-Encoding", tc.header)
		if got := acceptsGzip(r); got != tc.want {
			t.Errorf("Accept-Encoding %q: gzip %v, want %v", tc.header, got, tc.want)
		}
	}
	for _, tc := range []struct {
		header string
		want   bool
	}{{`"a"`, true}, {`W/"a"`, true}, {`"x", "a"`, true}, {`*`, true}, {`"b"`, false}, {`"a-gz"`, false}} {
		if got := matches(tc.header, `"a"`); got != tc.want {
			t.Errorf("If-None-Match %s: %v, want %v", tc.header, got, tc.want)
		}
	}
}

// TestCodeOf: a file's lines, ids and findings are escaped.
func TestCodeOf(t *testing.T) {
	f := file{Path: `a"<b>.yaml`, Lines: []line{{HTML: highlightLine("k: <v>", true),
		Findings: []finding{{Result: result.Result{Severity: result.Warning, Message: "<script>x</script>", Check: `c"&`}}}}}}
	got := string(codeOf(&f))
	want := `<span class="line has-finding" id="a&#34;&lt;b&gt;.yaml:1"><span class="ln" aria-hidden="true">1</span><span class="y-key">k</span>: &lt;v&gt;` + "\n" +
		`</span><span class="finding finding-warning" role="note"><span class="sev">warning</span> &lt;script&gt;x&lt;/script&gt; <span class="check">(c&#34;&amp;)</span>` + "\n</span>"
	if got != want {
		t.Errorf("code:\n got %s\nwant %s", got, want)
	}
}
