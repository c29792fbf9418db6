package pkgcheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/pkgserver/pkgserver/internal/krm"
	"github.com/pkgserver/pkgserver/internal/render"
	"github.com/pkgserver/pkgserver/internal/result"
	"github.com/pkgserver/pkgserver/internal/store"
)

// Checks of rendering: whether a package is as rendering its Kptfile's
// pipeline leaves it.
const (
	// CheckNotRendered is a package that rendering would change.
	CheckNotRendered = "render/not-rendered"
	// CheckPipelineFails is a package whose pipeline fails.
	CheckPipelineFails = "render/pipeline-fails"
	// CheckRenderNotChecked is a package whose pipeline cannot be
	// rendered in process (an image no built-in function serves, an exec
	// function): whether it is rendered is not known.
	CheckRenderNotChecked = "render/not-checked"
)

// renderHint tells the pusher how to render.
const renderHint = "run `pkgserver fn render` or `kpt fn render` and push the result"

// Rules are what a repository asks of its packages beyond what its
// policies check.
type Rules struct {
	// RequireRendered refuses a package that rendering would change, or
	// whose pipeline fails, rather than warning about it (the Repository's
	// spec.requireRendered).
	RequireRendered bool
	// Rendered says the packages are the output of a render that just
	// succeeded (an API write commits what it rendered): rendering them
	// again would find nothing, so the check is skipped.
	Rendered bool
}

// RulesOf returns the rules of a registered repository (nil: the
// defaults).
func RulesOf(r *store.Repository) Rules {
	if r == nil {
		return Rules{}
	}
	return Rules{RequireRendered: r.Object.Spec.RequireRendered}
}

// For returns the service validating with a repository's rules.
func (s *Service) For(rules Rules) *Service {
	c := *s
	c.rules = rules
	return &c
}

// severity is a rendering finding's: a warning, an error where the
// repository requires rendered packages.
func (r Rules) severity() result.Severity {
	if r.RequireRendered {
		return result.Error
	}
	return result.Warning
}

// renderCheck returns the check, run over each package's files as
// validation reads them, that the package is rendered: rendering it in
// process would change nothing. A package without a pipeline is rendered
// by definition and costs nothing more.
func renderCheck(rules Rules) func(context.Context, *krm.Package) []result.Result {
	return func(ctx context.Context, pkg *krm.Package) []result.Result {
		if rules.Rendered || !hasPipeline(pkg) {
			return nil
		}
		files := map[string][]byte{}
		for _, f := range pkg.Files {
			switch {
			case f.Data != nil:
				files[f.Path] = f.Data
			case !f.Symlink:
				return []result.Result{notChecked(rules, fmt.Sprintf("%s was not read", f.Path))}
			}
		}
		out, err := render.RenderFiles(ctx, files, render.Options{})
		var fe *render.FunctionError
		switch {
		case ctx.Err() != nil:
			return nil // the validation is cut short: no finding
		case errors.As(err, &fe):
			return []result.Result{pipelineFails(rules, pkg, fe)}
		case err != nil:
			return []result.Result{notChecked(rules, err.Error())}
		}
		if res, ok := notRendered(rules, files, out); ok {
			return []result.Result{res}
		}
		return nil
	}
}

// hasPipeline tells whether a Kptfile of the package, its own or a
// subpackage's, has functions to run. A Kptfile that does not parse has
// its own findings; rendering is not tried.
func hasPipeline(pkg *krm.Package) bool {
	found := false
	for _, f := range pkg.Files {
		if !krm.IsKptfile(f) || f.Data == nil {
			continue
		}
		has, ok := krm.KptfileFunctions(f.Data)
		if !ok {
			return false
		}
		found = found || has
	}
	return found
}

// notChecked is the finding of a package whose rendering could not be
// tried: information, a warning where rendered packages are required (the
// requirement goes unchecked), never an error.
func notChecked(rules Rules, reason string) result.Result {
	sev := result.Info
	if rules.RequireRendered {
		sev = result.Warning
	}
	return result.Result{Severity: sev, Check: CheckRenderNotChecked, Message: "rendering not checked: " + reason,
		File: &result.File{Path: krm.KptfileName}}
}

// pipelineFails is the finding of a function that failed, at its place in
// the Kptfile's pipeline.
func pipelineFails(rules Rules, pkg *krm.Package, fe *render.FunctionError) result.Result {
	msg := fe.Error()
	if detail := failedResult(fe); detail != "" && !strings.Contains(msg, detail) {
		msg += ": " + detail
	}
	line := 0
	if pkg.Kptfile != nil {
		line = functionLine(pkg.Kptfile.Data, fe.Image)
	}
	return result.Result{Severity: rules.severity(), Check: CheckPipelineFails, Message: "the pipeline fails: " + msg,
		File: &result.File{Path: krm.KptfileName, Line: line}}
}

// failedResult is the first error the failing function reported.
func failedResult(fe *render.FunctionError) string {
	if fe.Results == nil || len(fe.Results.Items) == 0 {
		return ""
	}
	for _, r := range fe.Results.Items[len(fe.Results.Items)-1].Results {
		if r != nil && r.Severity == framework.Error {
			return r.Message
		}
	}
	return ""
}

// functionLine is the line of the first function of a Kptfile's pipeline
// that runs image, 0 if none is found.
func functionLine(kptfile []byte, image string) int {
	var doc yaml.Node
	if yaml.Unmarshal(kptfile, &doc) != nil || len(doc.Content) == 0 {
		return 0
	}
	kf, _ := krm.ParseKptfile(kptfile)
	if kf == nil || kf.Pipeline == nil {
		return 0
	}
	for _, list := range []struct {
		name string
		fns  []krm.Function
	}{{"mutators", kf.Pipeline.Mutators}, {"validators", kf.Pipeline.Validators}} {
		for i, fn := range list.fns {
			if fn.Image == image {
				return krm.LineOf(doc.Content[0], fmt.Sprintf("pipeline.%s[%d].image", list.name, i))
			}
		}
	}
	return 0
}

// notRendered is the finding of a package that rendering changes, at the
// first line it changes: of the first file changed or deleted, in order of
// path.
func notRendered(rules Rules, files map[string][]byte, out *render.Outcome) (result.Result, bool) {
	n := len(out.Changed) + len(out.Deleted)
	if n == 0 {
		return result.Result{}, false
	}
	var file, what string
	line := 1
	if len(out.Changed) > 0 && (len(out.Deleted) == 0 || out.Changed[0] < out.Deleted[0]) {
		file = out.Changed[0]
		old, existed := files[file]
		line, what = firstChange(old, out.Contents[file])
		if !existed {
			// A file rendering creates: told at the Kptfile, as the
			// pusher has no such file.
			file, line, what = krm.KptfileName, 0, "rendering creates "+file
		}
	} else {
		file, what = out.Deleted[0], "rendering deletes this file"
	}
	msg := fmt.Sprintf("not rendered: %s (%s to change); %s", what, result.Plural(n, "file"), renderHint)
	return result.Result{Severity: rules.severity(), Check: CheckNotRendered, Message: msg,
		File: &result.File{Path: file, Line: line}}, true
}

// firstChange returns the 1-based line of old where new first differs
// from it, and what rendering writes there.
func firstChange(old, new []byte) (int, string) {
	i := 0
	for i < len(old) && i < len(new) && old[i] == new[i] {
		i++
	}
	start := bytes.LastIndexByte(old[:i], '\n') + 1
	line := 1 + bytes.Count(old[:start], []byte("\n"))
	if start >= len(new) {
		return line, "rendering ends the file before this line"
	}
	written, _, _ := bytes.Cut(new[start:], []byte("\n"))
	text := strings.TrimSpace(string(written))
	if len(text) > 60 {
		text = text[:57] + "..."
	}
	return line, fmt.Sprintf("rendering writes %q at this line", text)
}
