package main

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/pkgserver/pkgserver/internal/krm"
	"github.com/pkgserver/pkgserver/internal/schema"
	"github.com/pkgserver/pkgserver/internal/validate"
)

// validateSoftMemoryLimit is the heap size past which `pkgserver validate`
// collects garbage as often as Go does by default.
const validateSoftMemoryLimit = 256 << 20

func newValidateCmd() *cobra.Command {
	var (
		output string
		cfg    = validate.Config{Limits: krm.DefaultLimits()}
	)
	cmd := &cobra.Command{
		Use:   "validate [flags] PATH...",
		Short: "Validate KRM packages",
		Long: `Validate the KRM packages at each PATH: a package (a directory holding a
Kptfile) or a directory searched for packages. Every package is checked for
safe YAML, KRM structure, a well-formed Kptfile, Kubernetes schemas (built-in
kinds, and custom resources against the CRDs in the package or in --schemas
directories) and ValidatingAdmissionPolicies (the defaults and --policy).

Exit status: 0 when no errors were found (warnings allowed), 1 when errors
were found, 2 on a usage or I/O failure.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch output {
			case "text", "json", "sarif":
			default:
				return usageError("-o %s: want text, json or sarif", output)
			}
			// A validation run allocates much and keeps little: collect
			// less often, unless the user chose with GOGC, but collect as
			// usual once the heap nears a soft limit, unless the user
			// chose with GOMEMLIMIT, so that a large package is not paid
			// for with five times its live heap.
			if os.Getenv("GOGC") == "" {
				debug.SetGCPercent(400)
			}
			if os.Getenv("GOMEMLIMIT") == "" {
				debug.SetMemoryLimit(validateSoftMemoryLimit)
			}
			engine, err := validate.Build(cmd.Context(), cfg, schema.NewBuiltin())
			if err != nil {
				return usageError("%v", err)
			}
			pkgs, err := packagesAt(args)
			if err != nil {
				return usageError("%v", err)
			}
			report := engine.ValidateAll(cmd.Context(), pkgs)
			out := cmd.OutOrStdout()
			switch output {
			case "json":
				err = validate.WriteJSON(out, report)
			case "sarif":
				err = validate.WriteSARIF(out, report, version)
			default:
				err = validate.WriteText(out, report)
			}
			if err != nil {
				return usageError("write report: %v", err)
			}
			if errs, _, _ := report.Counts(); errs > 0 {
				return &exitError{code: 1, err: fmt.Errorf("")}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&output, "output", "o", "text", "report format: text, json or sarif")
	f.StringArrayVar(&cfg.SchemaDirs, "schemas", nil, "directory of CustomResourceDefinitions to check custom resources against (repeatable)")
	f.StringArrayVar(&cfg.PolicyPaths, "policy", nil, "file or directory of ValidatingAdmissionPolicies to apply (repeatable)")
	f.BoolVar(&cfg.NoDefaultPolicies, "no-default-policies", false, "do not apply the policies built into pkgserver")
	return cmd
}

// packagesAt finds the packages each path names: the path itself when it
// holds a Kptfile, else the outermost packages below it.
func packagesAt(args []string) ([]validate.Package, error) {
	var pkgs []validate.Package
	for _, arg := range args {
		info, err := os.Stat(arg)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			return nil, fmt.Errorf("%s: not a directory; give a package or a directory holding packages", arg)
		}
		fsys := os.DirFS(arg)
		roots, err := krm.FindPackages(fsys, ".")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", arg, err)
		}
		if len(roots) == 0 {
			return nil, fmt.Errorf("%s: no package (no directory holding a Kptfile) found", arg)
		}
		for _, root := range roots {
			pkgs = append(pkgs, validate.Package{
				Path: path.Join(filepath.ToSlash(arg), root),
				FS:   os.DirFS(filepath.Join(arg, filepath.FromSlash(root))),
			})
		}
	}
	return pkgs, nil
}
