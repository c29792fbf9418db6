package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/kio/kioutil"

	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/client"
	"github.com/pkgserver/pkgserver/internal/gitrepo"
)

func newRpkgCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{Use: "rpkg", Short: "Read and write the package revisions of a server"}
	cf.add(cmd.PersistentFlags())
	cmd.AddCommand(newRpkgGetCmd(&cf), newRpkgPullCmd(&cf), newRpkgPushCmd(&cf), newRpkgInitCmd(&cf), newRpkgCopyCmd(&cf),
		newRpkgCloneCmd(&cf), newRpkgUpgradeCmd(&cf))
	cmd.AddCommand(lifecycleCommands(&cf)...)
	return cmd
}

func newRpkgGetCmd(cf *clientFlags) *cobra.Command {
	var (
		f   client.RevisionFilter
		all bool
	)
	cmd := &cobra.Command{
		Use:   "get [NAME]",
		Short: "List package revisions, or show one",
		Long: `List the package revisions of a namespace (or of all, with -A), narrowed by
repository, package, workspace, revision, lifecycle or labels; or show one by
name.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cf.checkOutput(); err != nil {
				return err
			}
			switch f.Lifecycle {
			case "", "Draft", "Proposed", "Published", "DeletionProposed":
			default:
				return usageError("--lifecycle %s: want Draft, Proposed, Published or DeletionProposed", f.Lifecycle)
			}
			c, err := cf.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			var items []pkgv1alpha1.PackageRevision
			if len(args) == 1 {
				if f != (client.RevisionFilter{}) || all {
					return usageError("give a NAME or filters, not both")
				}
				pr, err := c.GetRevision(ctx, cf.namespace, args[0])
				if err != nil {
					return remoteError(err)
				}
				if cf.output != "table" {
					return writeObject(out, cf.output, pr)
				}
				items = []pkgv1alpha1.PackageRevision{*pr}
			} else {
				f.Namespace = cf.namespace
				if all {
					f.Namespace = ""
				}
				items, err = c.ListRevisions(ctx, f)
				if err != nil {
					return remoteError(err)
				}
				if cf.output != "table" {
					return writeObject(out, cf.output, pkgv1alpha1.PackageRevisionList{
						TypeMeta: metav1.TypeMeta{APIVersion: pkgv1alpha1.APIVersion, Kind: "PackageRevisionList"},
						Items:    items,
					})
				}
			}
			return revisionTable(out, items, all)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.Repository, "repository", "", "only revisions of this repository")
	fl.StringVar(&f.Package, "package", "", "only revisions of this package")
	fl.StringVar(&f.Workspace, "workspace", "", "only revisions of this workspace")
	fl.StringVar(&f.Revision, "revision", "", "only this revision (v1, v2, ...)")
	fl.StringVar(&f.Lifecycle, "lifecycle", "", "only revisions in this lifecycle: Draft, Proposed, Published or DeletionProposed")
	fl.StringVarP(&f.Labels, "selector", "l", "", "label selector, e.g. "+pkgv1alpha1.LatestRevisionLabel+"=true")
	fl.BoolVarP(&all, "all-namespaces", "A", false, "revisions of every namespace")
	cf.addOutput(fl)
	return cmd
}

// revisionTable prints revisions with the columns porchctl users know.
func revisionTable(w io.Writer, items []pkgv1alpha1.PackageRevision, withNamespace bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	if withNamespace {
		fmt.Fprint(tw, "NAMESPACE\t")
	}
	fmt.Fprintln(tw, "NAME\tPACKAGE\tWORKSPACENAME\tREVISION\tLATEST\tLIFECYCLE\tREPOSITORY")
	for _, pr := range items {
		if withNamespace {
			fmt.Fprintf(tw, "%s\t", pr.Namespace)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%s\t%s\n", pr.Name, pr.Spec.PackageName, pr.Spec.WorkspaceName,
			pr.Spec.Revision, pr.Labels[pkgv1alpha1.LatestRevisionLabel] == "true", pr.Spec.Lifecycle, pr.Spec.Repository)
	}
	return tw.Flush()
}

func newRpkgPullCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "pull NAME [DIR]",
		Short: "Write the files of a package revision to a directory, or print them",
		Long: `Write the files of a package revision into DIR, which must not exist or be
empty. Without DIR, print its KRM resources as a ResourceList on standard
output, each annotated with its file's path, as KRM functions expect.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			res, err := c.GetResources(cmd.Context(), cf.namespace, args[0])
			if err != nil {
				return remoteError(err)
			}
			if len(args) == 1 {
				return writeResourceList(cmd.OutOrStdout(), cmd.ErrOrStderr(), res.Spec.Resources)
			}
			if _, ok := res.Spec.Resources[revisionMetadataFile]; ok {
				return &exitError{code: 1, err: fmt.Errorf("the package holds a file named %s, which pull writes itself", revisionMetadataFile)}
			}
			if err := writeFiles(args[1], res.Spec.Resources); err != nil {
				return &exitError{code: 1, err: err}
			}
			if err := writeRevisionMetadata(args[1], res); err != nil {
				return &exitError{code: 1, err: err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d files written to %s\n", args[0], len(res.Spec.Resources), args[1])
			return nil
		},
	}
}

// sortedPaths returns a package's file paths in order.
func sortedPaths(files map[string]string) []string {
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths
}

// writeFiles writes a package's files under dir, which must be new or
// empty. Every path is checked to stay inside dir.
func writeFiles(dir string, files map[string]string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	case len(entries) > 0:
		return fmt.Errorf("%s is not empty", dir)
	}
	// Every path first: nothing is written when one is unsafe.
	for _, p := range sortedPaths(files) {
		if p == "" || path.IsAbs(p) || path.Clean(p) != p {
			return fmt.Errorf("the server sent an unsafe path %q", p)
		}
		for _, seg := range strings.Split(p, "/") {
			if err := gitrepo.ValidateWritePathElement(seg); err != nil {
				return fmt.Errorf("the server sent an unsafe path %q: %v", p, err)
			}
		}
	}
	for _, p := range sortedPaths(files) {
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, []byte(files[p]), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// writeResourceList prints the YAML files of a package as one ResourceList.
// Other files (a README) are not KRM: they are counted on stderr.
func writeResourceList(out, errw io.Writer, files map[string]string) error {
	var nodes []*kio.ByteReader
	skipped := 0
	for _, p := range sortedPaths(files) {
		if ext := path.Ext(p); ext != ".yaml" && ext != ".yml" && path.Base(p) != "Kptfile" {
			skipped++
			continue
		}
		nodes = append(nodes, &kio.ByteReader{
			Reader:         bytes.NewBufferString(files[p]),
			SetAnnotations: map[string]string{kioutil.PathAnnotation: p},
		})
	}
	inputs := make([]kio.Reader, len(nodes))
	for i, n := range nodes {
		inputs[i] = n
	}
	err := kio.Pipeline{
		Inputs: inputs,
		Outputs: []kio.Writer{kio.ByteWriter{
			Writer:                out,
			KeepReaderAnnotations: true,
			WrappingKind:          kio.ResourceListKind,
			WrappingAPIVersion:    kio.ResourceListAPIVersion,
		}},
	}.Execute()
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	if skipped > 0 {
		fmt.Fprintf(errw, "%d files that are not KRM left out: give a DIR to write every file\n", skipped)
	}
	return nil
}
