package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"strings"
	"time"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/krm"
	"github.com/pkgserver/pkgserver/internal/render"
	"github.com/pkgserver/pkgserver/internal/result"
)

// PushOnRenderFailureAnnotation is Porch's annotation of a Kptfile
// (metadata.annotations) that commits a package whose render failed as it
// was given, the failure reported, instead of refusing the write.
const PushOnRenderFailureAnnotation = "porch.kpt.dev/push-on-render-failure"

// Rendering is what rendering the package of a write did: every write that
// makes a Draft's content renders it as `kpt fn render` does and commits
// the rendered files.
type Rendering struct {
	// Results are the results of the functions that ran, kpt's
	// FunctionResultList.
	Results *render.ResultList
	// Err is why the render failed when the package was committed as given
	// (PushOnRenderFailureAnnotation); nil when it rendered.
	Err error
	// Changed holds the rendered bytes of each file rendering changed or
	// created; Deleted lists the files it removed.
	Changed map[string][]byte
	Deleted []string
}

// apply returns files as rendering leaves them.
func (rd *Rendering) apply(files map[string][]byte) map[string][]byte {
	if rd == nil || (len(rd.Changed) == 0 && len(rd.Deleted) == 0) {
		return files
	}
	out := maps.Clone(files)
	maps.Copy(out, rd.Changed)
	for _, p := range rd.Deleted {
		delete(out, p)
	}
	return out
}

// warnings are the results of a failed render that was committed anyway,
// as warnings of the write; none for a render that succeeded.
func (rd *Rendering) warnings(full string) []result.Result {
	if rd == nil || rd.Err == nil {
		return nil
	}
	rs := renderResults(full, rd.Results, rd.Err)
	for i := range rs {
		rs[i].Severity = result.Warning
	}
	return rs
}

// renderPackage renders a package given as its files (modes: those that
// are not plain files). A package none of whose Kptfiles has a pipeline
// renders as itself: nil, nothing runs. A render that fails, or that
// cannot run here (an image no built-in function serves, an exec function
// the server does not allow), refuses the write with the functions'
// results, unless the Kptfile asks for PushOnRenderFailureAnnotation.
func (w *Writer) renderPackage(ctx context.Context, full string, files map[string][]byte, modes map[string]uint32, what string) (*Rendering, error) {
	input := make(map[string][]byte, len(files))
	for p, data := range files {
		if modes[p] != gitrepo.ModeSymlink {
			input[p] = data
		}
	}
	if !hasPipeline(input) {
		return nil, nil
	}
	start := time.Now()
	out, err := render.RenderFiles(ctx, input, w.Render)
	if w.Rendered != nil {
		w.Rendered(time.Since(start), err == nil)
	}
	var results *render.ResultList
	if out != nil {
		results = out.Results
	}
	if results == nil {
		results = render.NewResultList()
	}
	if err == nil {
		return &Rendering{Results: results, Changed: out.Contents, Deleted: out.Deleted}, nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return nil, cerr
	}
	results.ExitCode = 1
	if pushOnRenderFailure(files["Kptfile"]) {
		return &Rendering{Results: results, Err: err}, nil
	}
	return nil, &Invalid{Message: fmt.Sprintf("%s: %v", what, err), Results: renderResults(full, results, err)}
}

// hasPipeline tells whether a Kptfile of the package, its own or a
// subpackage's, has functions to run.
func hasPipeline(files map[string][]byte) bool {
	for p, data := range files {
		if path.Base(p) != "Kptfile" {
			continue
		}
		if has, _ := krm.KptfileFunctions(data); has {
			return true
		}
	}
	return false
}

// pushOnRenderFailure tells whether a Kptfile asks for a package whose
// render failed to be committed as given.
func pushOnRenderFailure(kptfile []byte) bool {
	kf, _ := krm.ParseKptfile(kptfile)
	return kf != nil && strings.EqualFold(strings.TrimSpace(kf.Metadata.Annotations[PushOnRenderFailureAnnotation]), "true")
}

// renderResults are the findings of a failed render: the results of its
// functions, paths in the repository (full is the package's directory),
// and the failure itself unless a result of severity error says it.
func renderResults(full string, list *render.ResultList, err error) []result.Result {
	var out []result.Result
	failed := false
	if list != nil {
		for _, fr := range list.Items {
			for _, r := range fr.Results {
				if r == nil {
					continue
				}
				res := result.Result{Severity: severity(string(r.Severity)), Message: r.Message, Check: fr.Image}
				if r.File != nil && r.File.Path != "" {
					res.File = &result.File{Path: path.Join(full, r.File.Path)}
				}
				if r.Field != nil && r.Field.Path != "" {
					res.Field = &result.Field{Path: r.Field.Path}
				}
				if r.ResourceRef != nil {
					res.ResourceRef = &result.ResourceRef{APIVersion: r.ResourceRef.APIVersion, Kind: r.ResourceRef.Kind,
						Name: r.ResourceRef.Name, Namespace: r.ResourceRef.Namespace}
				}
				failed = failed || res.Severity == result.Error
				out = append(out, res)
			}
		}
	}
	if !failed {
		check := "render"
		if fe := (*render.FunctionError)(nil); errors.As(err, &fe) {
			check = fe.Image
		}
		out = append(out, result.Result{Severity: result.Error, Message: err.Error(), Check: check})
	}
	return out
}

// severity reads a function result's severity; a result without one does
// not fail the function (kyaml's rule), so it is an info.
func severity(s string) result.Severity {
	switch result.Severity(s) {
	case result.Error, result.Warning:
		return result.Severity(s)
	}
	return result.Info
}

// treeEntry is a file of a tree: its path below the tree, mode and blob.
type treeEntry struct {
	path string
	mode uint32
	id   string
}

// treeFiles lists the files of a tree, recursively.
func (o *op) treeFiles(tree, dir string, out []treeEntry) ([]treeEntry, error) {
	entries, err := o.b.ReadTree(tree)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		p := path.Join(dir, e.Name)
		switch {
		case e.IsTree():
			if out, err = o.treeFiles(e.ID, p, out); err != nil {
				return nil, err
			}
		case e.IsBlob():
			out = append(out, treeEntry{path: p, mode: e.Mode, id: e.ID})
		default:
			return nil, invalid("%s is a git submodule: a package holds files", p)
		}
	}
	return out, nil
}

// renderTree renders the package whose tree is given (see renderPackage)
// and returns the tree of the rendered package.
func (o *op) renderTree(tree, full, what string) (string, *Rendering, error) {
	list, err := o.treeFiles(tree, "", nil)
	if err != nil {
		return "", nil, err
	}
	// Only a package with a pipeline is read whole.
	var kptfiles []treeEntry
	for _, e := range list {
		if path.Base(e.path) == "Kptfile" && e.mode != gitrepo.ModeSymlink {
			kptfiles = append(kptfiles, e)
		}
	}
	read := func(entries []treeEntry) (map[string][]byte, error) {
		specs := make([]string, len(entries))
		for i, e := range entries {
			specs[i] = e.id
		}
		files := make(map[string][]byte, len(entries))
		err := o.b.ReadAll(specs, func(i int, obj *gitrepo.Object) error {
			if obj == nil {
				return fmt.Errorf("%s: blob %s is missing", entries[i].path, entries[i].id)
			}
			files[entries[i].path] = obj.Data
			return nil
		})
		return files, err
	}
	kf, err := read(kptfiles)
	if err != nil || !hasPipeline(kf) {
		return tree, nil, err
	}
	files, err := read(list)
	if err != nil {
		return "", nil, err
	}
	modes := map[string]uint32{}
	for _, e := range list {
		if e.mode != gitrepo.ModeFile {
			modes[e.path] = e.mode
		}
	}
	rd, err := o.w.renderPackage(o.ctx, full, files, modes, what)
	if err != nil || rd == nil || (len(rd.Changed) == 0 && len(rd.Deleted) == 0) {
		return tree, rd, err
	}
	if tree, err = o.ow.BuildTree(fileList(rd.apply(files), modes)); err != nil {
		return "", nil, invalid("the rendered package: %v", err)
	}
	return tree, rd, nil
}
