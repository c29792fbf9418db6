package render

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/kio/kioutil"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/pkgserver/pkgserver/internal/krm"
)

// step is one function of a pipeline, resolved.
type step struct {
	fn krm.Function
	// name is the function's image, or for an exec function its command.
	name string
	run  builtinFunc
	exec *execFunc
	// config is the functionConfig: built from configMap, or read from
	// the configPath file.
	config *yaml.RNode
}

// runPipeline runs p's pipeline over input: the mutators in order, each
// resolved before any runs, then each validator, resolved as it comes, on
// copies (kpt's order, which decides what a broken pipeline reports).
func (h *hydration) runPipeline(ctx context.Context, p *pkgNode, input []*yaml.RNode) ([]*yaml.RNode, error) {
	if p.pipeline == nil {
		return input, nil
	}
	mutators := make([]step, len(p.pipeline.Mutators))
	for i, f := range p.pipeline.Mutators {
		s, err := h.resolve(p, fmt.Sprintf("pipeline.mutators[%d]", i), f)
		if err != nil {
			return nil, err
		}
		mutators[i] = s
	}
	var err error
	for _, s := range mutators {
		if input, err = h.runMutator(ctx, p, s, input); err != nil {
			return nil, err
		}
	}
	for i, f := range p.pipeline.Validators {
		s, err := h.resolve(p, fmt.Sprintf("pipeline.validators[%d]", i), f)
		if err != nil {
			return nil, err
		}
		selected := selectInput(input, f.Selectors, f.Exclusions)
		if _, err := h.runStep(ctx, p, s, copyNodes(selected)); err != nil {
			return nil, err
		}
	}
	return input, nil
}

// resolve turns a function of p's Kptfile into a step, refusing what
// cannot run before anything of the pipeline does.
func (h *hydration) resolve(p *pkgNode, where string, f krm.Function) (step, error) {
	s := step{fn: f}
	var err error
	switch {
	case f.Image != "" && f.Exec != "":
		return s, fmt.Errorf("%s: a function has an image or an exec, not both", where)
	case f.Exec != "":
		if !h.opts.AllowExec {
			return s, fmt.Errorf("%s: exec %q: %w", where, f.Exec, ErrExecNotAllowed)
		}
		s.name = f.Exec
		if s.exec, err = newExecFunc(f.Exec, h.opts.ExecTimeout); err != nil {
			return s, fmt.Errorf("%s: %w", where, err)
		}
	case f.Image != "":
		s.name = f.Image
		if s.run, err = lookupBuiltin(f.Image); err != nil {
			return s, fmt.Errorf("%s: %w", where, err)
		}
	default:
		return s, fmt.Errorf("%s: a function needs an image or an exec", where)
	}
	switch {
	case f.ConfigPath != "" && len(f.ConfigMap) > 0:
		return s, fmt.Errorf("%s: configPath and configMap are both given: a function takes one functionConfig", where)
	case f.ConfigPath != "":
		if s.config, err = h.readConfigPath(p, f.ConfigPath); err != nil {
			return s, fmt.Errorf("%s: configPath: %w", where, err)
		}
	default:
		if s.config, err = newConfigMap(f.ConfigMap); err != nil {
			return s, fmt.Errorf("%s: configMap: %w", where, err)
		}
	}
	return s, nil
}

// readConfigPath reads a function's configPath as kpt does: a file of the
// package (not of a subpackage), relative to the Kptfile's directory, whose
// resource is the functionConfig.
func (h *hydration) readConfigPath(p *pkgNode, configPath string) (*yaml.RNode, error) {
	name, ok := cleanConfigPath(configPath)
	if !ok {
		return nil, fmt.Errorf("%q: not a file of the package", configPath)
	}
	if findConfig(p, p.local, name) == nil {
		return nil, fmt.Errorf("%q: functionConfig must exist in the current package", configPath)
	}
	data, err := h.fsys.ReadFile(filepath.Join(p.dir, filepath.FromSlash(name)))
	if err != nil {
		return nil, fmt.Errorf("missing function config %q: %w", configPath, err)
	}
	node, err := yaml.Parse(string(data))
	if err != nil {
		return nil, fmt.Errorf("invalid function config %q: %w", configPath, err)
	}
	return node, nil
}

func cleanConfigPath(configPath string) (string, bool) {
	name := path.Clean(filepath.ToSlash(configPath))
	return name, !path.IsAbs(name) && filepath.IsLocal(filepath.FromSlash(name))
}

// findConfig returns the resource of package p among nodes whose file is
// name, relative to p.
func findConfig(p *pkgNode, nodes []*yaml.RNode, name string) *yaml.RNode {
	for _, n := range nodes {
		if annotationValue(n, pkgPathAnnotation) != p.dir {
			continue
		}
		if np, _ := fileAnnotations(n); path.Clean(filepath.ToSlash(np)) == name {
			return n
		}
	}
	return nil
}

// runMutator runs a mutator over the resources its selectors pick and its
// exclusions leave, and merges its output back as kpt does: a selected
// resource the function returned replaces the input's, one it dropped is
// deleted, a new one is added at the end. With a configPath, the
// functionConfig is the file's resource as the mutators before left it.
func (h *hydration) runMutator(ctx context.Context, p *pkgNode, s step, input []*yaml.RNode) ([]*yaml.RNode, error) {
	if s.fn.ConfigPath != "" {
		name, _ := cleanConfigPath(s.fn.ConfigPath)
		if c := findConfig(p, input, name); c != nil {
			s.config = c
		}
	}
	if len(s.fn.Selectors) == 0 && len(s.fn.Exclusions) == 0 {
		return h.runStep(ctx, p, s, input)
	}
	setResourceIDs(input)
	selected := selectInput(input, s.fn.Selectors, s.fn.Exclusions)
	output, err := h.runStep(ctx, p, s, selected)
	if err != nil {
		return nil, err
	}
	merged := mergeWithInput(output, selected, input)
	clearResourceIDs(merged)
	return merged, nil
}

// runStep runs one function of package p over items and records its result.
func (h *hydration) runStep(ctx context.Context, p *pkgNode, s step, items []*yaml.RNode) ([]*yaml.RNode, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res := FunctionResult{Image: s.fn.Image, Exec: s.fn.Exec}
	var out []*yaml.RNode
	var err error
	if s.exec != nil {
		out, err = s.exec.filter(ctx, s.config, items, &res)
	} else {
		out, err = runBuiltin(s, items, &res)
	}
	if err == nil {
		err = settleOutput(p, s.config, out)
		if err != nil {
			res.Results = append(res.Results, &framework.Result{Message: err.Error(), Severity: framework.Error})
		}
	}
	if err != nil {
		if res.ExitCode == 0 {
			res.ExitCode = 1
		}
		h.results.ExitCode = 1
	}
	h.results.Items = append(h.results.Items, res)
	if err != nil {
		return nil, &FunctionError{Image: s.name, Results: h.results, Err: err}
	}
	return out, nil
}

// runBuiltin runs a built-in function in process. The built-ins edit the
// resources in place with kyaml, or restore what they rebuild (set-image's
// fields, starlark's resources), so that comments and field order are
// kept without a pass over every resource after each function, which kpt's
// runner needs for functions that serialize their output.
func runBuiltin(s step, items []*yaml.RNode, res *FunctionResult) ([]*yaml.RNode, error) {
	rl := &framework.ResourceList{Items: items}
	if s.config != nil {
		rl.FunctionConfig = s.config.Copy()
	}
	err := s.run(rl)
	res.Results = rl.Results
	if err != nil {
		res.Results = append(res.Results, &framework.Result{Message: err.Error(), Severity: framework.Error})
		return nil, err
	}
	if rl.Results.ExitCode() != 0 {
		return nil, errors.New("the function reported errors")
	}
	return rl.Items, nil
}

// settleOutput does to a function's output what kpt does: a resource
// without a file gets kyaml's default one, [NAMESPACE/]KIND_NAME.yaml
// lowercased, in the functionConfig's directory, and belongs to the package
// whose pipeline ran the function; no resource may leave the package, and
// no two share a file and index.
func settleOutput(p *pkgNode, config *yaml.RNode, out []*yaml.RNode) error {
	defaultPathAnnotation(functionDir(config), out)
	seen := make(map[[3]string]struct{}, len(out))
	for _, n := range out {
		pkgDir := annotationValue(n, pkgPathAnnotation)
		if pkgDir == "" {
			pkgDir = p.dir
			setAnnotation(n, pkgPathAnnotation, pkgDir)
		}
		file, index := fileAnnotations(n)
		file = path.Clean(filepath.ToSlash(file))
		if path.IsAbs(file) || file == ".." || strings.HasPrefix(file, "../") {
			return fmt.Errorf("function must not modify resources outside of package: resource has path %s", file)
		}
		// One lookup: the key is new where the map grows.
		before := len(seen)
		if seen[[3]string{pkgDir, file, index}] = struct{}{}; len(seen) == before {
			return fmt.Errorf("resource at path %q and index %q already exists", file, index)
		}
	}
	return nil
}

// functionDir is where kyaml puts the resources a function creates without
// a file: the directory of its functionConfig's file, or of the directory
// holding a "functions" directory that holds it; the package's for a
// configMap.
func functionDir(config *yaml.RNode) string {
	if config == nil {
		return ""
	}
	p, ok := annotation(config, kioutil.PathAnnotation)
	if !ok {
		if p, ok = annotation(config, legacyPathAnnotation); !ok {
			return ""
		}
	}
	dir := path.Clean(path.Dir(p))
	if path.Base(dir) == "functions" {
		dir = path.Dir(dir)
	}
	return dir
}
