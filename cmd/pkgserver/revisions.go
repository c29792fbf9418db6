package main

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/reconcile"
	"github.com/pkgserver/pkgserver/internal/revision"
)

func newRevisionsCmd() *cobra.Command {
	var (
		cfg    revision.Config
		output string
	)
	cmd := &cobra.Command{
		Use:   "revisions [flags] GIT_DIR_OR_URL",
		Short: "Print the package revisions pkgserver derives from a git repository",
		Long: `Print the package revisions pkgserver derives from a git repository, without
a server: drafts, proposals, published revisions and deletion proposals from
its branches and tags, and one revision per package at the head of the
branch. Refs that cannot be revisions are reported on standard error.

GIT_DIR_OR_URL is a local repository (bare or not) or a URL, fetched into a
temporary directory.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch output {
			case "text", "json", "yaml":
			default:
				return usageError("-o %s: want text, json or yaml", output)
			}
			ctx := cmd.Context()
			src := args[0]
			if cfg.Repository == "" {
				base := src
				if p, ok := reconcile.LocalPath(src); ok {
					if abs, err := filepath.Abs(p); err == nil {
						base = abs
					}
				}
				base = strings.TrimSuffix(strings.TrimRight(filepath.ToSlash(base), "/"), "/.git")
				base = strings.TrimSuffix(path.Base(base), ".git")
				cfg.Repository = revision.LabelFrom(base)
			}
			if !revision.IsLabel(cfg.Repository) {
				return usageError("--name %q: must be an RFC 1123 label", cfg.Repository)
			}
			var g *gitrepo.Repo
			var err error
			if p, ok := reconcile.LocalPath(src); ok {
				g, err = gitrepo.Open(p)
			} else {
				tmp, terr := os.MkdirTemp("", "pkgserver-revisions-")
				if terr != nil {
					return usageError("%v", terr)
				}
				defer os.RemoveAll(tmp)
				g, err = gitrepo.SyncMirror(ctx, tmp, src, nil)
			}
			if err != nil {
				return usageError("%v", err)
			}
			revs, problems, err := reconcile.Preview(ctx, g, cfg)
			if err != nil {
				return usageError("%v", err)
			}
			for _, p := range problems {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", p)
			}
			items := make([]pkgv1alpha1.PackageRevision, len(revs))
			for i, r := range revs {
				items[i] = pkgv1alpha1.FromRevision(r, revision.Meta{}, "", cfg.Repository, 0)
			}
			if err := writeRevisions(cmd, output, items); err != nil {
				return usageError("%v", err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Directory, "directory", "", "directory of the packages in the repository (default its root)")
	f.StringVar(&cfg.Branch, "branch", "main", "repository branch")
	f.StringVar(&cfg.Repository, "name", "", "repository name used in revision names (default from GIT_DIR_OR_URL)")
	f.StringVarP(&output, "output", "o", "text", "output format: text, json or yaml")
	return cmd
}

// list is a KRM List of objects.
type list struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Items      any    `json:"items"`
}

func writeRevisions(cmd *cobra.Command, output string, items []pkgv1alpha1.PackageRevision) error {
	out := cmd.OutOrStdout()
	switch output {
	case "json", "yaml":
		return writeObject(out, output, list{APIVersion: "v1", Kind: "List", Items: items})
	}
	tw := tabwriter.NewWriter(out, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPACKAGE\tWORKSPACE\tREVISION\tLIFECYCLE\tLATEST\tCOMMIT")
	for _, pr := range items {
		commit := pr.Status.Commit
		if len(commit) > 12 {
			commit = commit[:12]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%v\t%s\n", pr.Name, pr.Spec.PackageName, pr.Spec.WorkspaceName,
			pr.Spec.Revision, pr.Spec.Lifecycle, pr.Labels[pkgv1alpha1.LatestRevisionLabel] == "true", commit)
	}
	return tw.Flush()
}
