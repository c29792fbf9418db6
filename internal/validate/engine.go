package validate

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"runtime"
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
	limits   krm.Limits
	schemas  *schema.Set
	policies *policy.Set
}

// New returns an engine that reads packages within limits, checks resources
// against schemas and evaluates policies. policies may be nil.
func New(limits krm.Limits, schemas *schema.Set, policies *policy.Set) *Engine {
	if policies == nil {
		policies = &policy.Set{}
	}
	return &Engine{limits: limits, schemas: schemas, policies: policies}
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
}

// Report is the outcome of validating packages.
type Report struct {
	Packages  int
	Resources int
	Results   []result.Result
}

// Counts returns the number of errors, warnings and infos.
func (r *Report) Counts() (errors, warnings, infos int) { return result.Count(r.Results) }

// Validate validates one package.
func (e *Engine) Validate(ctx context.Context, p Package) *Report {
	c := &pkgCheck{engine: e, path: p.Path, pkg: krm.Load(p.FS, e.limits)}
	for _, f := range c.pkg.Findings {
		if f.File != nil {
			f.File.Path = c.display(f.File.Path)
		} else {
			f.File = &result.File{Path: c.display("")}
		}
		c.results = append(c.results, f)
	}
	sound := c.checkStructure()
	c.checkKptfile()
	schemas := c.packageSchemas(ctx, sound)
	var previous map[string]*krm.Resource
	if p.Previous != nil {
		previous = map[string]*krm.Resource{}
		for _, r := range krm.Load(p.Previous, e.limits).Resources {
			previous[identity(r)] = r
		}
	}
	namespaces := map[string]map[string]any{}
	for _, r := range sound {
		if r.APIVersion == "v1" && r.Kind == "Namespace" {
			namespaces[r.Name] = r.Object
		}
	}
	for _, r := range sound {
		if isLocalKind(r.APIVersion) || schema.IsCRD(r.APIVersion, r.Kind) {
			continue
		}
		gvk := k8sschema.FromAPIVersionAndKind(r.APIVersion, r.Kind)
		kind := c.checkSchema(ctx, schemas, r, gvk)
		var old map[string]any
		if prev, ok := previous[identity(r)]; ok {
			old = prev.Object
		}
		c.checkPolicies(ctx, r, kind, old, namespaces[r.Namespace])
	}
	result.Sort(c.results)
	return &Report{Packages: 1, Resources: len(c.pkg.Resources), Results: c.results}
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

// packageSchemas validates the CustomResourceDefinitions of the package and
// returns the schema set extended with them.
func (c *pkgCheck) packageSchemas(ctx context.Context, resources []*krm.Resource) *schema.Set {
	var custom []*schema.Schema
	for _, r := range resources {
		if !schema.IsCRD(r.APIVersion, r.Kind) {
			continue
		}
		schemas, errs := schema.FromCRD(ctx, r.Object, c.display(r.File))
		for _, fe := range errs {
			c.add(r, result.Error, CheckSchema, fe.Field, fe.String())
		}
		custom = append(custom, schemas...)
	}
	return c.engine.schemas.With(custom)
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
