package ui

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
)

// unified writes hunks as diff -u writes them, without the file headers.
func unified(hs []hunk) string {
	var b strings.Builder
	for _, h := range hs {
		b.WriteString(h.Header() + "\n")
		for _, l := range h.Lines {
			mark := map[string]string{lineContext: " ", lineAdded: "+", lineRemoved: "-"}[l.Kind]
			b.WriteString(mark + l.Text + "\n")
			if l.NoEOL {
				b.WriteString("\\ No newline at end of file\n")
			}
		}
	}
	return b.String()
}

// numbered is lines "1\n" … "n\n", with line i replaced by repl[i].
func numbered(n int, repl map[int]string) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		if r, ok := repl[i]; ok {
			b.WriteString(r)
			continue
		}
		fmt.Fprintf(&b, "%d\n", i)
	}
	return b.String()
}

// TestDiffHunks: hunks are what diff -u prints (GNU diffutils' output for the
// same texts): three lines of context, changes closer than seven lines in
// one hunk, empty sides numbered 0, a last line without a newline marked.
func TestDiffHunks(t *testing.T) {
	for _, tc := range []struct {
		name, before, after, want string
	}{
		{"same", "a\nb\n", "a\nb\n", ""},
		{"one line", numbered(10, nil), numbered(10, map[int]string{5: "five\n"}),
			"@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"},
		{"at the start", numbered(10, nil), numbered(10, map[int]string{1: ""}),
			"@@ -1,4 +1,3 @@\n-1\n 2\n 3\n 4\n"},
		{"at the end", numbered(10, nil), numbered(10, nil) + "11\n",
			"@@ -8,3 +8,4 @@\n 8\n 9\n 10\n+11\n"},
		{"six lines apart: one hunk", numbered(20, nil), numbered(20, map[int]string{5: "x\n", 12: "y\n"}),
			"@@ -2,14 +2,14 @@\n 2\n 3\n 4\n-5\n+x\n 6\n 7\n 8\n 9\n 10\n 11\n-12\n+y\n 13\n 14\n 15\n"},
		{"seven lines apart: two hunks", numbered(20, nil), numbered(20, map[int]string{5: "x\n", 13: "y\n"}),
			"@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+x\n 6\n 7\n 8\n@@ -10,7 +10,7 @@\n 10\n 11\n 12\n-13\n+y\n 14\n 15\n 16\n"},
		{"added file", "", "a\nb\n", "@@ -0,0 +1,2 @@\n+a\n+b\n"},
		{"removed file", "a\n", "", "@@ -1 +0,0 @@\n-a\n"},
		{"newline added at the end", "a\nb", "a\nb\n",
			"@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs, ok := hunks(tc.before, tc.after, maxDiffLines)
			if !ok {
				t.Fatal("the diff was refused as too large")
			}
			if diff := cmp.Diff(unified(hs), tc.want); diff != "" {
				t.Errorf("hunks (-got +want):\n%s", diff)
			}
		})
	}
}

// TestDiffHunkNumbers: each line carries its numbers in the old and the new
// file, 0 on the side it is not in.
func TestDiffHunkNumbers(t *testing.T) {
	hs, _ := hunks("a\nb\nc\n", "a\nB\nc\nd\n", maxDiffLines)
	want := []diffLine{
		{Kind: lineContext, Old: 1, New: 1, Text: "a"},
		{Kind: lineRemoved, Old: 2, Text: "b"},
		{Kind: lineAdded, New: 2, Text: "B"},
		{Kind: lineContext, Old: 3, New: 3, Text: "c"},
		{Kind: lineAdded, New: 4, Text: "d"},
	}
	if len(hs) != 1 {
		t.Fatalf("%d hunks, want 1", len(hs))
	}
	if diff := cmp.Diff(hs[0].Lines, want, cmp.AllowUnexported(diffLine{})); diff != "" {
		t.Errorf("lines (-got +want):\n%s", diff)
	}
}

// TestDiffBounds: a file over 1 MiB is not compared; a diff over 5,000
// lines is not shown; a page shows at most its budget of lines.
func TestDiffBounds(t *testing.T) {
	if _, ok := hunks("", numbered(maxDiffLines, nil), maxDiffLines); !ok {
		t.Errorf("a diff of %d lines was refused", maxDiffLines)
	}
	if _, ok := hunks("", numbered(maxDiffLines+1, nil), maxDiffLines); ok {
		t.Errorf("a diff of %d lines was shown", maxDiffLines+1)
	}
	big := strings.Repeat("x", maxDiffBytes+1)
	files, unchanged := diffFiles(map[string]string{"big": "x\n", "same": "s\n"}, map[string]string{"big": big, "same": "s\n"})
	if len(files) != 1 || files[0].TooLarge != "the file is over 1 MiB" || files[0].Hunks != nil {
		t.Errorf("a file over 1 MiB: %+v", files)
	}
	if diff := cmp.Diff(unchanged, []string{"same"}); diff != "" {
		t.Errorf("unchanged (-got +want):\n%s", diff)
	}

	after := map[string]string{}
	for i := range 6 {
		after[fmt.Sprintf("f%d", i)] = numbered(maxDiffLines-1, nil)
	}
	files, _ = diffFiles(nil, after)
	var shown, refused int
	for _, f := range files {
		switch {
		case f.Status != fileAdded:
			t.Errorf("%s is %s, want added", f.Path, f.Status)
		case f.TooLarge == pageFull:
			refused++
		case f.TooLarge == "":
			shown++
		default:
			t.Errorf("%s: %s", f.Path, f.TooLarge)
		}
	}
	if shown != maxPageDiffLines/maxDiffLines || refused != len(after)-shown {
		t.Errorf("the page showed %d files and refused %d, want %d shown", shown, refused, maxPageDiffLines/maxDiffLines)
	}
}

// TestDiffPrevious: a published v<N> is compared with the highest published
// v<M> below it; a draft, a proposal or a deletion proposal with the
// package's latest published revision; a first revision with none.
func TestDiffPrevious(t *testing.T) {
	rev := func(name, revision, lifecycle string, latest bool) pkgv1alpha1.PackageRevision {
		r := pkgv1alpha1.PackageRevision{Spec: pkgv1alpha1.PackageRevisionSpec{Revision: revision, Lifecycle: lifecycle}}
		r.Name = name
		if latest {
			r.Labels = map[string]string{pkgv1alpha1.LatestRevisionLabel: "true"}
		}
		return r
	}
	revs := []pkgv1alpha1.PackageRevision{
		rev("p.v3", "v3", "Published", false),
		rev("p.v1", "v1", "Published", false),
		rev("p.v10", "v10", "Published", true),
		rev("p.v4", "v4", "DeletionProposed", false),
		rev("p.draft", "", "Draft", false),
		rev("p.prop", "", "Proposed", false),
	}
	for _, tc := range []struct{ name, want string }{
		{"p.v10", "p.v3"}, {"p.v3", "p.v1"}, {"p.v1", ""}, {"p.v4", "p.v10"}, {"p.draft", "p.v10"}, {"p.prop", "p.v10"},
	} {
		var this *pkgv1alpha1.PackageRevision
		for i := range revs {
			if revs[i].Name == tc.name {
				this = &revs[i]
			}
		}
		got := ""
		if p := previousOf(this, revs); p != nil {
			got = p.Name
		}
		if got != tc.want {
			t.Errorf("previous of %s: %q, want %q", tc.name, got, tc.want)
		}
	}
	if p := previousOf(&revs[4], revs[4:]); p != nil {
		t.Errorf("a package's first draft is compared with %s", p.Name)
	}
}
