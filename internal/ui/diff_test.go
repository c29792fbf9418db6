package ui_test

import (
	"html"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDiffPage: a revision's diff page, read by a client without
// JavaScript: a proposal against the package's previous published
// revision by default, against another revision when asked, a first
// revision with every file added, an unknown revision not found; readers
// may read it.
func TestDiffPage(t *testing.T) {
	s := startSite(t)
	writer, _ := signInHTTP(t, s, s.writer)
	reader, _ := signInHTTP(t, s, s.reader)
	get := func(c *http.Client, path string) (int, string) {
		t.Helper()
		resp, err := c.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	const second = "/ui/revisions/default/blueprints.nginx.second"

	code, page := get(writer, second+"/diff")
	if code != http.StatusOK {
		t.Fatalf("the diff of a proposal: %d\n%s", code, page)
	}
	v1 := between(page, `against <a class="rev" href="`, `"`)
	for _, want := range []string{
		"<title>nginx second against v1 · pkgserver</title>",
		`<a class="rev" href="` + second + `">second</a>`,
		`<select id="against" name="against">`,
		`<label for="against">`,
		`<option value="blueprints.nginx.third">third (Proposed)</option>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the diff page lacks %s\n%s", want, page)
		}
	}
	if !strings.HasPrefix(v1, "/ui/revisions/default/blueprints.nginx.") {
		t.Errorf("the diff page links the revision it compares against at %q", v1)
	}
	if got := text(between(page, `id="diff-summary">`, `</ul>`)); got != "0 files added 0 files removed 1 file changed 1 unchanged" {
		t.Errorf("the summary reads %q", got)
	}
	if got := lines(page); strings.Join(got, "\n") != ` 3 3 metadata:
 4 4 name: nginx
 5 5 data:
− removed 6 version: "1"
+ added 6 version: "second"` {
		t.Errorf("the lines of config.yaml's diff:\n%s", strings.Join(got, "\n"))
	}
	if !strings.Contains(page, `<span class="diff-status diff-status-changed">changed</span>`) ||
		!strings.Contains(between(page, `<details class="diff-unchanged"`, `</details>`), ">Kptfile</a>") {
		t.Errorf("config.yaml is not changed or the Kptfile not unchanged:\n%s", page)
	}

	// Against the other proposal, as the form asks; a reader may look.
	code, page = get(reader, second+"/diff?against=blueprints.nginx.third")
	if code != http.StatusOK || !strings.Contains(page, "<title>nginx second against third · pkgserver</title>") ||
		!strings.Contains(page, `<option value="blueprints.nginx.third" selected>`) {
		t.Fatalf("a reader's diff against third: %d\n%s", code, page)
	}
	if got := lines(page); !slices.Contains(got, `− removed 6 version: "third"`) || !slices.Contains(got, `+ added 6 version: "second"`) {
		t.Errorf("the lines of second against third:\n%s", strings.Join(got, "\n"))
	}

	// The first published revision: every file is added.
	code, page = get(reader, v1+"/diff")
	if code != http.StatusOK || !strings.Contains(page, "<title>nginx v1 against nothing (its first revision) · pkgserver</title>") ||
		!strings.Contains(page, `id="first-revision"`) {
		t.Fatalf("the diff of the first revision: %d\n%s", code, page)
	}
	if got := text(between(page, `id="diff-summary">`, `</ul>`)); got != "2 files added 0 files removed 0 files changed 0 unchanged" {
		t.Errorf("the first revision's summary reads %q", got)
	}

	code, page = get(writer, second+"/diff?against=blueprints.nginx.nosuch")
	if code != http.StatusNotFound {
		t.Errorf("a diff against an unknown revision: %d\n%s", code, page)
	}
	if code, _ := get(writer, "/ui/revisions/default/blueprints.nginx.nosuch/diff"); code != http.StatusNotFound {
		t.Errorf("the diff of an unknown revision: %d", code)
	}
}

var (
	tags   = regexp.MustCompile(`<[^>]*>`)
	spaces = regexp.MustCompile(`\s+`)
	rows   = regexp.MustCompile(`(?s)<tr class="diff-line diff-[a-z]+">.*?</tr>`)
)

// text is an HTML fragment's text, its spaces collapsed.
func text(fragment string) string {
	return strings.TrimSpace(spaces.ReplaceAllString(html.UnescapeString(tags.ReplaceAllString(fragment, " ")), " "))
}

// lines are the diff's lines as a screen reader reads them: mark, label,
// line numbers and text.
func lines(page string) []string {
	var out []string
	for _, row := range rows.FindAllString(page, -1) {
		cells := strings.Split(row, "</td>")
		out = append(out, text(cells[2])+" "+text(cells[0]+" "+cells[1]+" "+cells[3]))
	}
	return out
}
