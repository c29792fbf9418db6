package validate

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/pkgserver/pkgserver/internal/krm"
	"github.com/pkgserver/pkgserver/internal/policy"
	"github.com/pkgserver/pkgserver/internal/schema"
	"github.com/pkgserver/pkgserver/policies"
)

// Config says where an engine's schemas and policies come from.
type Config struct {
	// SchemaDirs are directories searched for CustomResourceDefinitions.
	SchemaDirs []string
	// PolicyPaths are files, or directories searched for YAML files, holding
	// ValidatingAdmissionPolicies, their bindings and params.
	PolicyPaths []string
	// PolicyFS are further sources of policies read from file systems, such
	// as the .pkgserver/policies directory of a repository's branch.
	PolicyFS []PolicyFS
	// NoDefaultPolicies leaves out the policies embedded from policies/.
	NoDefaultPolicies bool
	// Limits bound the reading of packages and of the files above.
	Limits krm.Limits
	// Budget, when set, bounds the memory of the validations the engine
	// and every other engine of the same budget run at once.
	Budget *Budget
}

// PolicyFS is a directory of policy files in a file system; Name is how
// findings and errors name it.
type PolicyFS struct {
	FS   fs.FS
	Dir  string
	Name string
}

// Build reads the schemas and policies of a configuration and returns an
// engine. Every problem in them is an error: they judge other files.
func Build(ctx context.Context, cfg Config, builtin *schema.Builtin) (*Engine, error) {
	var custom []*schema.Schema
	for _, dir := range cfg.SchemaDirs {
		info, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("--schemas: %w", err)
		}
		if !info.IsDir() {
			return nil, fmt.Errorf("--schemas %s: not a directory", dir)
		}
		s, err := schema.LoadCRDs(ctx, os.DirFS(dir), ".", cfg.Limits)
		if err != nil {
			return nil, fmt.Errorf("--schemas %s: %w", dir, err)
		}
		custom = append(custom, s...)
	}
	src := policy.NewSources(cfg.Limits)
	if !cfg.NoDefaultPolicies {
		if err := src.AddFS(policies.FS, ".", "policies"); err != nil {
			return nil, fmt.Errorf("default policies: %w", err)
		}
	}
	for _, p := range cfg.PolicyPaths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("--policy: %w", err)
		}
		var err2 error
		if info.IsDir() {
			err2 = src.AddFS(os.DirFS(p), ".", p)
		} else {
			err2 = src.AddFS(os.DirFS(filepath.Dir(p)), filepath.Base(p), p)
		}
		if err2 != nil {
			return nil, fmt.Errorf("--policy: %w", err2)
		}
	}
	for _, p := range cfg.PolicyFS {
		if err := src.AddFS(p.FS, p.Dir, p.Name); err != nil {
			return nil, fmt.Errorf("policies of %s: %w", p.Name, err)
		}
	}
	set, err := src.Compile()
	if err != nil {
		return nil, fmt.Errorf("policies: %w", err)
	}
	e := New(cfg.Limits, schema.NewSet(builtin, custom), set)
	e.budget = cfg.Budget
	return e, nil
}
