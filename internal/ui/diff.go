package ui

import (
	"cmp"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/sergi/go-diff/diffmatchpatch"

	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/revision"
)

// Bounds of the work a diff page does: a file larger than maxDiffBytes is
// not compared, a file's diff longer than maxDiffLines is not shown, and
// once a page has shown maxPageDiffLines the files left are not shown.
const (
	maxDiffBytes     = 1 << 20
	maxDiffLines     = 5000
	maxPageDiffLines = 4 * maxDiffLines
	// diffContext is how many unchanged lines a hunk shows around a change.
	diffContext = 3
	// maxRevisionPages bounds the pages of a package's revisions the
	// page's picker lists.
	maxRevisionPages = 10
)

// The states of a file in a diff.
const (
	fileAdded     = "added"
	fileRemoved   = "removed"
	fileChanged   = "changed"
	fileUnchanged = "unchanged"
)

// The kinds of a line in a diff.
const (
	lineContext = "context"
	lineAdded   = "add"
	lineRemoved = "del"
)

// diffData is what a diff page shows: This revision against Other.
type diffData struct {
	This revisionRef
	// Other is nil when the revision has none to be compared against (a
	// package's first revision): every file is added.
	Other *revisionRef
	// Choices are the package's other revisions, to compare against.
	Choices []revisionRef
	Files   []fileDiff
	// Unchanged are the paths of the files both revisions hold alike.
	Unchanged               []string
	Added, Removed, Changed int
}

// revisionRef is a revision as a diff page names and links it.
type revisionRef struct {
	Namespace, Name, Package, Repository string
	// Label is the revision's number, or its workspace when it has none.
	Label     string
	Lifecycle string
	Selected  bool
}

// fileDiff is a file that differs between two revisions.
type fileDiff struct {
	Path   string
	Status string
	Hunks  []hunk
	// TooLarge, when set, says why the file's diff is not shown.
	TooLarge string
}

// hunk is a run of changed lines with their context, as diff -u shows it.
type hunk struct {
	OldStart, OldLines, NewStart, NewLines int
	Lines                                  []diffLine
}

// Header is the hunk's "@@ -a,b +c,d @@" line, as diff -u writes it: a
// range of one line is its number alone.
func (h hunk) Header() string {
	return "@@ -" + lineRange(h.OldStart, h.OldLines) + " +" + lineRange(h.NewStart, h.NewLines) + " @@"
}

func lineRange(start, n int) string {
	if n == 1 {
		return strconv.Itoa(start)
	}
	return strconv.Itoa(start) + "," + strconv.Itoa(n)
}

// diffLine is a line of a hunk: its number in the old and the new file (0
// where it is not in one), and its text without the line's end.
type diffLine struct {
	Kind     string
	Old, New int
	Text     string
	// NoEOL marks the last line of a file that does not end in a newline.
	NoEOL bool
}

// refOf names and links a revision.
func refOf(rev *pkgv1alpha1.PackageRevision) revisionRef {
	label := rev.Spec.Revision
	if label == "" {
		label = rev.Spec.WorkspaceName
	}
	return revisionRef{Namespace: rev.Namespace, Name: rev.Name, Package: rev.Spec.PackageName,
		Repository: rev.Spec.Repository, Label: label, Lifecycle: rev.Spec.Lifecycle}
}

// diffPage shows what changed between a revision and another of the same
// namespace: ?against=NAME, or by default the previous published revision
// of its package (previousOf).
func (u *UI) diffPage(w http.ResponseWriter, r *http.Request, v *visitor) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	var this pkgv1alpha1.PackageRevision
	if err := u.call(r, v, http.MethodGet, nsPath(pkgsAPI, ns, "packagerevisions/"+url.PathEscape(name)), nil, &this); err != nil {
		u.failAPI(w, r, v, err)
		return
	}
	revs, err := u.packageRevisions(r, v, ns, this.Spec.Repository, this.Spec.PackageName)
	if err != nil {
		u.failAPI(w, r, v, err)
		return
	}
	other := previousOf(&this, revs)
	if against := r.URL.Query().Get("against"); against != "" {
		other = &pkgv1alpha1.PackageRevision{}
		if err := u.call(r, v, http.MethodGet, nsPath(pkgsAPI, ns, "packagerevisions/"+url.PathEscape(against)), nil, other); err != nil {
			u.failAPI(w, r, v, err)
			return
		}
	}
	newFiles, err := u.resources(r, v, ns, name)
	if err != nil {
		u.failAPI(w, r, v, err)
		return
	}
	var oldFiles map[string]string
	if other != nil {
		if oldFiles, err = u.resources(r, v, ns, other.Name); err != nil {
			u.failAPI(w, r, v, err)
			return
		}
	}
	d := diffData{This: refOf(&this), Choices: choicesOf(&this, other, revs)}
	title := this.Spec.PackageName + " " + d.This.Label + " against "
	if other != nil {
		ref := refOf(other)
		if ref.Package != this.Spec.PackageName {
			title += ref.Package + " "
		}
		d.Other, title = &ref, title+ref.Label
	} else {
		title += "nothing (its first revision)"
	}
	d.Files, d.Unchanged = diffFiles(oldFiles, newFiles)
	for _, f := range d.Files {
		switch f.Status {
		case fileAdded:
			d.Added++
		case fileRemoved:
			d.Removed++
		case fileChanged:
			d.Changed++
		}
	}
	u.render(w, r, http.StatusOK, "diff.html", page{Title: title, Who: v, Data: d})
}

// resources are a revision's files, by path.
func (u *UI) resources(r *http.Request, v *visitor, ns, name string) (map[string]string, error) {
	var res pkgv1alpha1.PackageRevisionResources
	err := u.call(r, v, http.MethodGet, nsPath(pkgsAPI, ns, "packagerevisionresources/"+url.PathEscape(name)), nil, &res)
	return res.Spec.Resources, err
}

// packageRevisions lists the revisions of a package, of every lifecycle.
func (u *UI) packageRevisions(r *http.Request, v *visitor, ns, repo, pkg string) ([]pkgv1alpha1.PackageRevision, error) {
	var revs []pkgv1alpha1.PackageRevision
	f := packageFilter{Name: pkg}
	for range maxRevisionPages {
		list, err := u.listRevisions(r, v, ns, repo, f, revisionsPerPage)
		if err != nil {
			return nil, err
		}
		revs = append(revs, list.Items...)
		if list.Continue == "" {
			break
		}
		f.Continue = list.Continue
	}
	return revs, nil
}

// previousOf is the revision another is compared against by default: for
// a published v<N>, the highest published v<M> with M < N; for any other,
// the package's latest published revision. It is nil when there is none.
func previousOf(this *pkgv1alpha1.PackageRevision, revs []pkgv1alpha1.PackageRevision) *pkgv1alpha1.PackageRevision {
	published := string(revision.Published)
	n := revision.ParseRevisionNumber(this.Spec.Revision)
	below := this.Spec.Lifecycle == published && n > 0
	var best, latest *pkgv1alpha1.PackageRevision
	bestN := 0
	for i := range revs {
		rev := &revs[i]
		if rev.Name == this.Name || rev.Spec.Lifecycle != published {
			continue
		}
		if rev.Labels[pkgv1alpha1.LatestRevisionLabel] == "true" {
			latest = rev
		}
		m := revision.ParseRevisionNumber(rev.Spec.Revision)
		if m > bestN && (!below || m < n) {
			best, bestN = rev, m
		}
	}
	if best == nil && !below {
		return latest
	}
	return best
}

// choicesOf are the revisions a diff page offers to compare against: the
// package's other revisions, numbered ones first, highest first, and the
// one compared against, selected, whatever package it is of.
func choicesOf(this, other *pkgv1alpha1.PackageRevision, revs []pkgv1alpha1.PackageRevision) []revisionRef {
	var out []revisionRef
	seen := false
	for i := range revs {
		if revs[i].Name == this.Name {
			continue
		}
		ref := refOf(&revs[i])
		ref.Selected = other != nil && ref.Name == other.Name
		seen = seen || ref.Selected
		out = append(out, ref)
	}
	if other != nil && !seen && other.Name != this.Name {
		ref := refOf(other)
		ref.Selected = true
		out = append(out, ref)
	}
	slices.SortFunc(out, func(a, b revisionRef) int {
		return cmp.Or(cmp.Compare(revision.ParseRevisionNumber(b.Label), revision.ParseRevisionNumber(a.Label)),
			cmp.Compare(a.Label, b.Label), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// diffFiles compares two revisions' files, in path order: the files that
// differ, and the paths of those that do not.
func diffFiles(before, after map[string]string) (files []fileDiff, unchanged []string) {
	paths := slices.Sorted(maps.Keys(before))
	for p := range after {
		if _, ok := before[p]; !ok {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	budget := maxPageDiffLines
	for _, p := range paths {
		a, inBefore := before[p]
		b, inAfter := after[p]
		f := fileDiff{Path: p, Status: fileChanged}
		switch {
		case !inBefore:
			f.Status = fileAdded
		case !inAfter:
			f.Status = fileRemoved
		case a == b:
			unchanged = append(unchanged, p)
			continue
		}
		f.Hunks, f.TooLarge = fileHunks(a, b, &budget)
		files = append(files, f)
	}
	return files, unchanged
}

// pageFull is why a file's diff is not shown once the page has shown
// its budget of lines.
var pageFull = fmt.Sprintf("the page shows at most %d lines of diffs", maxPageDiffLines)

// fileHunks are the hunks of a file's diff, or why they are not shown. A
// diff spends the lines it shows of the page's budget, or the lines it
// was allowed when it is too long.
func fileHunks(before, after string, budget *int) ([]hunk, string) {
	if len(before) > maxDiffBytes || len(after) > maxDiffBytes {
		return nil, "the file is over 1 MiB"
	}
	limit := min(maxDiffLines, *budget)
	if limit <= 0 {
		return nil, pageFull
	}
	hs, ok := hunks(before, after, limit)
	if !ok {
		*budget -= limit
		if limit < maxDiffLines {
			return nil, pageFull
		}
		return nil, fmt.Sprintf("the diff is over %d lines", maxDiffLines)
	}
	for _, h := range hs {
		*budget -= len(h.Lines)
	}
	return hs, ""
}

// hunks is the line diff of two texts as diff -u shows it: the changed
// lines with diffContext lines around them. It is false, and shows
// nothing, when the hunks would hold more than limit lines.
func hunks(before, after string, limit int) ([]hunk, bool) {
	lines := lineDiff(before, after)
	var out []hunk
	shown := 0
	for i := 0; i < len(lines); {
		if lines[i].Kind == lineContext {
			i++
			continue
		}
		// A hunk starts diffContext lines before its first change and
		// runs until more than 2*diffContext unchanged lines follow one:
		// the context of two changes closer than that would meet.
		start, end := max(0, i-diffContext), i
		for j := i; j < len(lines) && j-end <= 2*diffContext+1; j++ {
			if lines[j].Kind != lineContext {
				end = j
			}
		}
		stop := min(len(lines), end+diffContext+1)
		shown += stop - start
		if shown > limit {
			return nil, false
		}
		out = append(out, hunkOf(lines[start:stop]))
		i = stop
	}
	return out, true
}

// hunkOf makes a hunk of its lines, numbered as diff -u numbers them: a
// side without lines (an empty file's) starts at 0.
func hunkOf(lines []diffLine) hunk {
	h := hunk{Lines: lines}
	for _, l := range lines {
		if l.Kind != lineAdded {
			h.OldLines++
			if h.OldStart == 0 {
				h.OldStart = l.Old
			}
		}
		if l.Kind != lineRemoved {
			h.NewLines++
			if h.NewStart == 0 {
				h.NewStart = l.New
			}
		}
	}
	return h
}

// lineDiff is every line of two texts, unchanged, removed or added, in
// order, numbered: the line diff of diffmatchpatch's line mode.
func lineDiff(before, after string) []diffLine {
	dmp := diffmatchpatch.New()
	a, b, table := dmp.DiffLinesToChars(before, after)
	diffs := dmp.DiffCharsToLines(dmp.DiffMain(a, b, false), table)
	var out []diffLine
	o, n := 0, 0
	for _, d := range diffs {
		for _, text := range strings.SplitAfter(d.Text, "\n") {
			if text == "" {
				continue
			}
			l := diffLine{Text: strings.TrimSuffix(text, "\n"), NoEOL: !strings.HasSuffix(text, "\n")}
			switch d.Type {
			case diffmatchpatch.DiffEqual:
				o, n = o+1, n+1
				l.Kind, l.Old, l.New = lineContext, o, n
			case diffmatchpatch.DiffDelete:
				o++
				l.Kind, l.Old = lineRemoved, o
			case diffmatchpatch.DiffInsert:
				n++
				l.Kind, l.New = lineAdded, n
			}
			out = append(out, l)
		}
	}
	return out
}
