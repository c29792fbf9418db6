package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/pkgserver/pkgserver/internal/render"
)

func newFnCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fn",
		Short: "Run the KRM functions of packages",
	}
	cmd.AddCommand(newFnRenderCmd())
	return cmd
}

func newFnRenderCmd() *cobra.Command {
	var (
		output string
		check  bool
	)
	cmd := &cobra.Command{
		Use:   "render [flags] DIR",
		Short: "Render a package in place, as kpt fn render does",
		Long: `Render the package in DIR in place, as kpt fn render does: run the Kptfile's
pipeline, mutators then validators, over the package's resources and write
back the files whose resources changed. Functions run in process: the kpt
function catalog's set-namespace, set-labels and set-annotations (images
gcr.io/kpt-fn/NAME or ghcr.io/kptdev/krm-functions-catalog/NAME, any tag).
Any other image is an error: pkgserver runs no container runtime.

With -o json or -o yaml the FunctionResultList (kpt.dev/v1) is printed to
standard output. With --check nothing is written, and the exit status says
whether rendering would change the package.

Exit status: 0 when the package rendered (with --check: is rendered), 1 when
a function failed, the pipeline cannot run, or with --check the package
would change (the package is left untouched), 2 on a usage error.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch output {
			case "", "json", "yaml":
			default:
				return usageError("-o %s: want json or yaml", output)
			}
			out, err := render.Render(cmd.Context(), args[0], render.Options{DryRun: check})
			if errors.Is(err, render.ErrNotPackage) {
				return usageError("%v", err)
			}
			if werr := printRender(cmd, output, check, out); werr != nil {
				return usageError("write results: %v", werr)
			}
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			if check && len(out.Changed)+len(out.Deleted) > 0 {
				return &exitError{code: 1, err: fmt.Errorf("%s is not rendered: rendering would change it", args[0])}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&output, "output", "o", "", "print the FunctionResultList to standard output: json or yaml")
	f.BoolVar(&check, "check", false, "change nothing; exit 1 when rendering would change the package")
	return cmd
}

// printRender reports a render: the FunctionResultList on standard output
// when asked for, a line per function (and, with --check, per file that
// would change) on standard error.
func printRender(cmd *cobra.Command, output string, check bool, out *render.Outcome) error {
	stderr := cmd.ErrOrStderr()
	for _, item := range out.Results.Items {
		status := "PASS"
		if item.ExitCode != 0 {
			status = "FAIL"
		}
		fmt.Fprintf(stderr, "[%s] %q\n", status, item.Image)
		for _, r := range item.Results {
			fmt.Fprintf(stderr, "  [%s] %s\n", r.Severity, r.Message)
		}
	}
	if out.Results.ExitCode == 0 {
		printChanges(stderr, check, out)
	}
	switch output {
	case "json":
		return out.Results.WriteJSON(cmd.OutOrStdout())
	case "yaml":
		return out.Results.WriteYAML(cmd.OutOrStdout())
	}
	return nil
}

func printChanges(w io.Writer, check bool, out *render.Outcome) {
	changed, deleted := "changed", "deleted"
	if check {
		changed, deleted = "would change", "would delete"
	}
	for _, name := range out.Changed {
		fmt.Fprintf(w, "%s: %s\n", changed, name)
	}
	for _, name := range out.Deleted {
		fmt.Fprintf(w, "%s: %s\n", deleted, name)
	}
	fmt.Fprintf(w, "Successfully executed %d function(s) in 1 package(s).\n", len(out.Results.Items))
}
