package main

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/pkgserver/pkgserver/internal/krm"
	"github.com/pkgserver/pkgserver/internal/schema"
	"github.com/pkgserver/pkgserver/internal/validate"
)

// validateSoftMemoryLimit is the heap, per validation running at once,
// past which `pkgserver validate` collects garbage as often as Go does by
// default: a package of 28 MB peaks at about 280 MiB under it.
const validateSoftMemoryLimit = 256 << 20

// validateSoftLimit is the soft memory limit of `pkgserver validate`
// running parallel validations at once: validateSoftMemoryLimit for each,
// but no more than the memory budget that bounds them (nor less than
// validateSoftMemoryLimit). A fixed limit for all would have the collector
// run continuously on a machine of many cores validating many large
// packages, their heaps together far above it.
func validateSoftLimit(budget int64, parallel int) int64 {
	return min(int64(max(parallel, 1))*validateSoftMemoryLimit, max(budget, validateSoftMemoryLimit))
}

func newValidateCmd() *cobra.Command {
	var (
		output string
		memory string
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
			total, err := parseBytes(memory)
			if err != nil {
				return usageError("--validation-memory %s: %v", memory, err)
			}
			if cfg.Budget, err = validate.NewBudget(total); err != nil {
				return usageError("--validation-memory %s: %v", memory, err)
			}
			engine, err := validate.Build(cmd.Context(), cfg, schema.NewBuiltin())
			if err != nil {
				return usageError("%v", err)
			}
			pkgs, err := packagesAt(args)
			if err != nil {
				return usageError("%v", err)
			}
			// A validation run allocates much and keeps little: collect
			// less often, unless the user chose with GOGC, but collect as
			// usual once the heap nears a soft limit, unless the user
			// chose with GOMEMLIMIT, so that a large package is not paid
			// for with five times its live heap. Validations run one per
			// core, within the budget.
			collectLessOften(cliGCPercent, validateSoftLimit(total, min(runtime.GOMAXPROCS(0), len(pkgs))))
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
	f.StringVar(&memory, "validation-memory", "1Gi", "memory budget of the packages validated at once, in bytes or as a quantity (512Mi, 2GiB), as for the server; see docs/validation.md")
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
