package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

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
		Long: `Render the package in DIR in place, as kpt fn render does: its subpackages
first, depth first, each one's pipeline over its own resources and its
subpackages'; then the package's pipeline over its resources and all of its
subpackages'. A pipeline runs its mutators, then its validators, each over
the resources its selectors pick and its exclude leaves, with the
functionConfig of its configMap or configPath. The files whose resources
changed are written back; a file whose every resource was removed is
deleted; a resource a function created goes to [NAMESPACE/]KIND_NAME.yaml in
the package whose pipeline created it.

Image functions run in process: the kpt function catalog's apply-replacements,
apply-setters, ensure-name-substring, search-replace, set-annotations,
set-image, set-labels, set-namespace and starlark (images gcr.io/kpt-fn/NAME
or ghcr.io/kptdev/krm-functions-catalog/NAME, any tag). Any other image is an
error: pkgserver runs no container runtime. Exec functions run as programs
of this machine, as the user running pkgserver, with the ResourceList on
standard input, in an empty temporary directory, with PATH=/usr/bin:/bin as
their whole environment, killed after a minute.

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
			collectLessOften(cliGCPercent, renderSoftLimit)
			out, err := render.Render(cmd.Context(), args[0], render.Options{DryRun: check, AllowExec: true})
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
		status, name := "PASS", item.Image
		if item.ExitCode != 0 {
			status = "FAIL"
		}
		if name == "" {
			name = item.Exec
		}
		fmt.Fprintf(stderr, "[%s] %q\n", status, name)
		for _, r := range item.Results {
			fmt.Fprintf(stderr, "  [%s] %s\n", r.Severity, r.Message)
		}
		if s := strings.TrimRight(item.Stderr, "\n"); s != "" {
			fmt.Fprintf(stderr, "  Stderr:\n    %s\n", strings.ReplaceAll(s, "\n", "\n    "))
		}
		if item.ExitCode != 0 && item.Exec != "" {
			fmt.Fprintf(stderr, "  Exit code: %d\n", item.ExitCode)
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
	fmt.Fprintf(w, "Successfully executed %d function(s) in %d package(s).\n", len(out.Results.Items), out.Packages)
}
