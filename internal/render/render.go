package render

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/pkgserver/pkgserver/internal/krm"
)

// Options configures a render.
type Options struct {
	// DryRun runs the pipeline and reports what it would change, writing
	// nothing (`pkgserver fn render --check`).
	DryRun bool
	// AllowExec lets the pipeline run `exec:` functions as processes on
	// this machine. The local CLI allows them; the server only where its
	// operator says so (serve --allow-exec-functions).
	AllowExec bool
	// ExecTimeout bounds each exec function's run; zero means
	// DefaultExecTimeout.
	ExecTimeout time.Duration
}

// DefaultExecTimeout is how long an exec function may run when Options
// say nothing.
const DefaultExecTimeout = time.Minute

// Outcome is what a render did or, with DryRun, would do.
type Outcome struct {
	// Results are the results of the functions that ran, as kpt prints
	// them. Its ExitCode is 1 when the render failed.
	Results *ResultList
	// Changed lists the files, relative to the package and slash-separated,
	// whose resources the pipeline changed (or created), sorted.
	Changed []string
	// Deleted lists the files whose every resource the pipeline removed,
	// sorted.
	Deleted []string
	// Contents holds the rendered bytes of each file in Changed, written
	// or, with DryRun, that would be written.
	Contents map[string][]byte
}

// step is one function of the pipeline, resolved.
type step struct {
	image  string
	run    builtinFunc
	config *yaml.RNode
}

// Render renders the package in directory dir in place: it runs the
// Kptfile's mutators in order over the package's resources, then its
// validators over copies of the result, and writes back the files whose
// resources changed. On any error nothing is written; a function that
// failed is reported as a *FunctionError. The outcome is returned on error
// too: its Results hold what the functions that ran reported.
func Render(ctx context.Context, dir string, opts Options) (*Outcome, error) {
	return render(ctx, diskFS{filesys.MakeFsOnDisk()}, dir, opts)
}

// RenderFS is Render over a file system other than the disk, such as
// kyaml's in-memory one; dir is the package's directory in it.
func RenderFS(ctx context.Context, fsys filesys.FileSystem, dir string, opts Options) (*Outcome, error) {
	return render(ctx, fsys, dir, opts)
}

func render(ctx context.Context, fsys filesys.FileSystem, dir string, opts Options) (*Outcome, error) {
	out := &Outcome{Results: NewResultList()}
	fail := func(err error) (*Outcome, error) {
		out.Results.ExitCode = 1
		return out, err
	}
	mutators, validators, err := loadPipeline(fsys, dir)
	if err != nil {
		return fail(err)
	}
	pkg, err := readPackage(fsys, dir)
	if err != nil {
		return fail(err)
	}
	items := pkg.nodes
	for _, s := range mutators {
		if items, err = runStep(ctx, s, items, out.Results); err != nil {
			return fail(err)
		}
	}
	for _, s := range validators {
		if _, err = runStep(ctx, s, copyNodes(items), out.Results); err != nil {
			return fail(err)
		}
	}
	plan, err := pkg.plan(items)
	if err != nil {
		return fail(err)
	}
	out.Changed, out.Deleted, out.Contents = plan.changedPaths(), plan.deleted, plan.changed
	if opts.DryRun {
		return out, nil
	}
	if err := plan.apply(fsys, dir); err != nil {
		return fail(err)
	}
	return out, nil
}

// runStep runs one function over items and records its result in list.
func runStep(ctx context.Context, s step, items []*yaml.RNode, list *ResultList) ([]*yaml.RNode, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rl := &framework.ResourceList{Items: items}
	if s.config != nil {
		rl.FunctionConfig = s.config.Copy()
	}
	err := s.run(rl)
	res := FunctionResult{Image: s.image, Results: rl.Results}
	if err != nil {
		res.Results = append(res.Results, &framework.Result{Message: err.Error(), Severity: framework.Error})
	} else if rl.Results.ExitCode() != 0 {
		err = errors.New("the function reported errors")
	}
	if err != nil {
		res.ExitCode = 1
		list.ExitCode = 1
	}
	list.Items = append(list.Items, res)
	if err != nil {
		return nil, &FunctionError{Image: s.image, Results: list, Err: err}
	}
	return rl.Items, nil
}

// loadPipeline reads the package's Kptfile and resolves its pipeline,
// refusing what this renderer does not implement before anything runs.
func loadPipeline(fsys filesys.FileSystem, dir string) (mutators, validators []step, err error) {
	kptfile := filepath.Join(dir, "Kptfile")
	if !fsys.Exists(kptfile) {
		return nil, nil, fmt.Errorf("%s: %w", dir, ErrNotPackage)
	}
	data, err := fsys.ReadFile(kptfile)
	if err != nil {
		return nil, nil, err
	}
	kf, errs := krm.ParseKptfile(data)
	if len(errs) > 0 {
		return nil, nil, fmt.Errorf("parse Kptfile: line %d: %s", errs[0].Line, errs[0].Message)
	}
	if kf.APIVersion != krm.KptfileAPIVersion || kf.Kind != krm.KptfileKind {
		return nil, nil, fmt.Errorf("the Kptfile's apiVersion %q kind %q: want %s %s", kf.APIVersion, kf.Kind, krm.KptfileAPIVersion, krm.KptfileKind)
	}
	if err := noSubpackages(fsys, dir); err != nil {
		return nil, nil, err
	}
	if kf.Pipeline == nil {
		return nil, nil, nil
	}
	if mutators, err = resolve("mutators", kf.Pipeline.Mutators); err != nil {
		return nil, nil, err
	}
	if validators, err = resolve("validators", kf.Pipeline.Validators); err != nil {
		return nil, nil, err
	}
	return mutators, validators, nil
}

// resolve turns a list of the Kptfile's functions into steps.
func resolve(list string, fns []krm.Function) ([]step, error) {
	steps := make([]step, 0, len(fns))
	for i, f := range fns {
		where := fmt.Sprintf("pipeline.%s[%d]", list, i)
		switch {
		case f.Exec != "":
			return nil, fmt.Errorf("%s: exec functions are %w", where, ErrUnsupported)
		case f.Image == "":
			return nil, fmt.Errorf("%s: a function needs an image", where)
		case f.ConfigPath != "":
			return nil, fmt.Errorf("%s: configPath is %w; give the function a configMap", where, ErrUnsupported)
		case len(f.Selectors) > 0 || len(f.Exclusions) > 0:
			return nil, fmt.Errorf("%s: selectors and exclude are %w", where, ErrUnsupported)
		}
		run, err := lookupBuiltin(f.Image)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		config, err := newConfigMap(f.ConfigMap)
		if err != nil {
			return nil, fmt.Errorf("%s: configMap: %w", where, err)
		}
		steps = append(steps, step{image: f.Image, run: run, config: config})
	}
	return steps, nil
}

// noSubpackages refuses a package holding another: rendering one means
// rendering its subpackages first, which this renderer does not do yet.
func noSubpackages(fsys filesys.FileSystem, dir string) error {
	return fsys.Walk(dir, func(path string, info fs.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !info.IsDir() || path == dir {
			return nil
		}
		if info.Name() == ".git" {
			return filepath.SkipDir
		}
		if fsys.Exists(filepath.Join(path, "Kptfile")) {
			rel, _ := filepath.Rel(dir, path)
			return fmt.Errorf("subpackage %s: subpackages are %w", filepath.ToSlash(rel), ErrUnsupported)
		}
		return nil
	})
}

func copyNodes(nodes []*yaml.RNode) []*yaml.RNode {
	out := make([]*yaml.RNode, len(nodes))
	for i, n := range nodes {
		out[i] = n.Copy()
	}
	return out
}
