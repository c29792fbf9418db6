package validate

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	k8sschema "k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/pkgserver/pkgserver/internal/krm"
	"github.com/pkgserver/pkgserver/internal/policy"
	"github.com/pkgserver/pkgserver/internal/result"
	"github.com/pkgserver/pkgserver/internal/schema"
)

// Checks of the schema and policy layers. A policy's findings carry the
// check "policy/<policy name>".
const (
	CheckSchema       = "schema"
	checkPolicyPrefix = "policy/"
)

// Engine validates packages. It is safe for concurrent use.
type Engine struct {
	budget *Budget
	// keepBelow is the most YAML, in bytes, a package may hold for its
	// resources to be kept between the two readings rather than read
	// again: the constant keepBelow, or -1 in tests that read every
	// package twice.
	keepBelow int
	limits    krm.Limits
	schemas   *schema.Set
	policies  *policy.Set
}

// New returns an engine that reads packages within limits, checks resources
// against schemas and evaluates policies. policies may be nil.
func New(limits krm.Limits, schemas *schema.Set, policies *policy.Set) *Engine {
	if policies == nil {
		policies = &policy.Set{}
	}
	return &Engine{limits: limits, schemas: schemas, policies: policies, keepBelow: keepBelow}
}

// Package is a package to validate.
type Package struct {
	// Path is how the package is named in findings: each finding's file path
	// is Path joined with the file's path in the package.
	Path string
	// FS holds the package's files at its root.
	FS fs.FS
	// Previous holds the previous published revision of the package, whose
	// resources policies see as oldObject. May be nil.
	Previous fs.FS
	// Check, when set, is a further check of the package's files as read
	// here, so that the caller's rule (pkgcheck's rendering check) reads
	// the same bytes once; its findings name files relative to the
	// package.
	Check func(ctx context.Context, pkg *krm.Package) []result.Result
}

// Report is the outcome of validating packages.
type Report struct {
	Packages  int
	Resources int
	Results   []result.Result
}

// Counts returns the number of errors, warnings and infos.
func (r *Report) Counts() (errors, warnings, infos int) { return result.Count(r.Results) }

// Validate validates one package. With a budget, it first waits for the
// package's share of it (see Budget).
func (e *Engine) Validate(ctx context.Context, p Package) *Report {
	if e.budget != nil {
		cost, size := Cost(p, e.limits)
		release, err := e.budget.Acquire(ctx, cost)
		if err != nil {
			return refused(p.Path, size, err)
		}
		defer release()
	}
	return e.validate(ctx, p)
}

// validate reads the package's files, then parses them twice, one document
// at a time, so that it never holds the nodes and objects of more than one
// document besides the few that checking others needs.
func (e *Engine) validate(ctx context.Context, p Package) *Report {
	c := &pkgCheck{engine: e, path: p.Path, pkg: krm.Read(p.FS, e.limits), perFile: map[string]int{},
		kptfiles: map[string]*krm.Resource{}}
	c.loaded(c.pkg.Findings)
	// The first pass checks what a resource alone tells and gathers what
	// checking the others needs: identities, the package's
	// CustomResourceDefinitions and Namespaces, the Kptfiles.
	var (
		custom     []*schema.Schema
		namespaces = map[string]map[string]any{}
		todo       = map[string][]int{} // documents to check against schemas and policies, by file
		seen       = map[string]location{}
		// A small package keeps its resources from the first reading:
		// reading it again would cost more time than keeping it costs
		// memory.
		keep = yamlBytes(c.pkg) <= e.keepBelow
		kept []*krm.Resource
	)
	c.eachResource(nil, func(r *krm.Resource) {
		c.resources++
		c.perFile[r.File]++
		if path.Base(r.File) == krm.KptfileName && c.kptfiles[r.File] == nil {
			c.kptfiles[r.File] = r
		}
		if !c.checkStructure(r, seen) {
			return
		}
		switch {
		case schema.IsCRD(r.APIVersion, r.Kind):
			custom = append(custom, c.crdSchemas(ctx, r)...)
		case r.APIVersion == "v1" && r.Kind == "Namespace":
			namespaces[r.Name] = r.Object
		}
		if !isLocalKind(r.APIVersion) && !schema.IsCRD(r.APIVersion, r.Kind) {
			todo[r.File] = append(todo[r.File], r.Index)
			if keep {
				kept = append(kept, r)
			}
		}
	})
	c.checkKptfiles()
	c.kptfiles = nil
	schemas := c.engine.schemas.With(custom)
	var previous map[string]map[string]any
	if p.Previous != nil {
		previous = map[string]map[string]any{}
		prev := krm.Read(p.Previous, e.limits)
		for _, f := range prev.Files {
			if f.Data != nil && krm.IsYAMLFile(f.Path) {
				krm.EachResource(f, e.limits, func(r *krm.Resource) { previous[identity(r)] = r.Object })
			}
		}
	}
	// The second pass checks the sound resources against schemas and
	// policies, reading their files again rather than keeping every
	// resource's nodes and object from the first.
	check := func(r *krm.Resource) {
		gvk := k8sschema.FromAPIVersionAndKind(r.APIVersion, r.Kind)
		kind := c.checkSchema(ctx, schemas, r, gvk)
		c.checkPolicies(ctx, r, kind, previous[identity(r)], namespaces[r.Namespace])
	}
	if keep {
		for _, r := range kept {
			check(r)
		}
	} else {
		c.eachResource(todo, func(r *krm.Resource) {
			if _, ok := slices.BinarySearch(todo[r.File], r.Index); ok {
				check(r)
			}
		})
	}
	if p.Check != nil {
		c.loaded(p.Check(ctx, c.pkg))
	}
	result.Sort(c.results)
	return &Report{Packages: 1, Resources: c.resources, Results: c.results}
}

// keepBelow is the most YAML a package may hold for validation to keep its
// resources between the two readings: some 35 times that in nodes and
// objects, within the least a validation is counted (MinCost).
const keepBelow = 64 << 10

// yamlBytes is the size of a package's YAML files.
func yamlBytes(pkg *krm.Package) int {
	n := 0
	for _, f := range pkg.Files {
		if krm.IsYAMLFile(f.Path) {
			n += len(f.Data)
		}
	}
	return n
}

// eachResource calls fn with each resource of the package, file by file.
// Without only, it is the first reading, and records the problems of
// parsing; with only, it reads again the files only names.
func (c *pkgCheck) eachResource(only map[string][]int, fn func(*krm.Resource)) {
	for _, f := range c.pkg.Files {
		if f.Data == nil || !krm.IsYAMLFile(f.Path) {
			continue
		}
		if only != nil {
			if len(only[f.Path]) > 0 {
				krm.EachResource(f, c.engine.limits, fn)
			}
			continue
		}
		c.loaded(krm.EachResource(f, c.engine.limits, fn))
	}
}

// loaded records findings of reading the package, named as the package.
func (c *pkgCheck) loaded(findings []result.Result) {
	for _, f := range findings {
		if f.File != nil {
			f.File.Path = c.display(f.File.Path)
		} else {
			f.File = &result.File{Path: c.display("")}
		}
		c.results = append(c.results, f)
	}
}

// ValidateAll validates packages in parallel, one per core, and returns one
// report whose findings are in a deterministic order.
func (e *Engine) ValidateAll(ctx context.Context, pkgs []Package) *Report {
	total := &Report{}
	for _, r := range e.ValidateEach(ctx, pkgs) {
		total.Packages += r.Packages
		total.Resources += r.Resources
		total.Results = append(total.Results, r.Results...)
	}
	return total
}

// ValidateEach validates packages in parallel, one per core, and returns
// the report of each.
func (e *Engine) ValidateEach(ctx context.Context, pkgs []Package) []*Report {
	reports := make([]*Report, len(pkgs))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(pkgs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				reports[i] = e.Validate(ctx, pkgs[i])
			}
		}()
	}
	for i := range pkgs {
		work <- i
	}
	close(work)
	wg.Wait()
	return reports
}

// isLocalKind tells whether resources of an API group configure kpt itself
// (the Kptfile, function configurations) rather than a cluster.
func isLocalKind(apiVersion string) bool {
	g := group(apiVersion)
	return g == "kpt.dev" || strings.HasSuffix(g, ".kpt.dev")
}

// pkgCheck is the state of validating one package.
type pkgCheck struct {
	engine  *Engine
	path    string
	pkg     *krm.Package
	results []result.Result
	// resources counts the package's resources, perFile those of each file.
	resources int
	perFile   map[string]int
	// kptfiles are the first resource of each Kptfile of the package, the
	// root's and its subpackages', by file, kept through the first pass for
	// checkKptfiles.
	kptfiles map[string]*krm.Resource
}

func (c *pkgCheck) display(file string) string {
	if file == "" {
		return c.path
	}
	return path.Join(c.path, file)
}

// add records a finding about a resource, at the line of field.
func (c *pkgCheck) add(r *krm.Resource, sev result.Severity, check, field, msg string) {
	c.addAt(r.File, r.LineOf(field), r, sev, check, field, msg)
}

func (c *pkgCheck) addAt(file string, line int, r *krm.Resource, sev result.Severity, check, field, msg string) {
	res := result.Result{Severity: sev, Message: msg, Check: check, File: &result.File{Path: c.display(file), Line: line}}
	if r != nil {
		res.ResourceRef = r.Ref()
	}
	if field != "" {
		res.Field = &result.Field{Path: field}
	}
	c.results = append(c.results, res)
}

// crdSchemas validates a CustomResourceDefinition of the package and returns
// its schemas.
func (c *pkgCheck) crdSchemas(ctx context.Context, r *krm.Resource) []*schema.Schema {
	schemas, errs := schema.FromCRD(ctx, r.Object, c.display(r.File))
	for _, fe := range errs {
		c.add(r, result.Error, CheckSchema, fe.Field, fe.String())
	}
	return schemas
}

// checkSchema validates a resource against the schema of its kind and
// returns what is known of the kind.
func (c *pkgCheck) checkSchema(ctx context.Context, schemas *schema.Set, r *krm.Resource, gvk k8sschema.GroupVersionKind) schema.Kind {
	s, err := schemas.Lookup(gvk)
	if err != nil {
		c.add(r, result.Error, CheckSchema, "", fmt.Sprintf("cannot load the schema of %s: %v", gvk, err))
		return guessKind(gvk)
	}
	if s == nil {
		switch {
		case schemas.Builtin().HasGroup(gvk.Group):
			c.add(r, result.Error, CheckSchema, "apiVersion",
				fmt.Sprintf("%s %s is not a kind of Kubernetes %s", r.APIVersion, r.Kind, schemas.Builtin().KubernetesVersion()))
		case !isLocalConfig(r):
			c.add(r, result.Info, CheckSchema, "apiVersion",
				fmt.Sprintf("no schema for %s %s: add its CustomResourceDefinition to the package or pass --schemas", r.APIVersion, r.Kind))
		}
		return guessKind(gvk)
	}
	for _, fe := range s.Validate(ctx, r.Object) {
		c.add(r, result.Error, CheckSchema, fe.Field, fe.String())
	}
	return s.Kind
}

func guessKind(gvk k8sschema.GroupVersionKind) schema.Kind {
	plural, _ := meta.UnsafeGuessKindToResource(gvk)
	return schema.Kind{GVK: gvk, Resource: plural.Resource, Namespaced: true}
}

// isLocalConfig tells whether a resource is marked as configuration for
// tools that is never applied to a cluster.
func isLocalConfig(r *krm.Resource) bool {
	md, _ := r.Object["metadata"].(map[string]any)
	ann, _ := md["annotations"].(map[string]any)
	v, _ := ann["config.kubernetes.io/local-config"].(string)
	return v == "true"
}

func (c *pkgCheck) checkPolicies(ctx context.Context, r *krm.Resource, kind schema.Kind, old, namespace map[string]any) {
	findings := c.engine.policies.Evaluate(ctx, policy.Input{
		Object:     r.Object,
		OldObject:  old,
		GVK:        kind.GVK,
		Resource:   kind.Resource,
		Namespaced: kind.Namespaced,
		Namespace:  namespace,
	})
	for _, f := range findings {
		c.add(r, f.Severity, checkPolicyPrefix+f.Policy, "", f.Message)
	}
}

// UsesPrevious tells whether findings can depend on Package.Previous: when
// not, callers need not look previous revisions up.
func (e *Engine) UsesPrevious() bool { return e.policies.UsesOldObject() }
