package main

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/client"
	"github.com/pkgserver/pkgserver/internal/validate"
)

// The commands that write package revisions, named and shaped as Porch's
// porchctl rpkg commands.

func draft(ns, repo, pkg, ws string, task pkgv1alpha1.Task) *pkgv1alpha1.PackageRevision {
	return &pkgv1alpha1.PackageRevision{
		TypeMeta:   metav1.TypeMeta{APIVersion: pkgv1alpha1.APIVersion, Kind: "PackageRevision"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns},
		Spec: pkgv1alpha1.PackageRevisionSpec{Repository: repo, PackageName: pkg, WorkspaceName: ws, Lifecycle: "Draft",
			Tasks: []pkgv1alpha1.Task{task}},
	}
}

func created(cmd *cobra.Command, pr *pkgv1alpha1.PackageRevision) {
	fmt.Fprintf(cmd.OutOrStdout(), "%s created\n", pr.Name)
}

func ref(name string) *pkgv1alpha1.PackageRevisionRef {
	return &pkgv1alpha1.PackageRevisionRef{Name: name}
}

func newRpkgInitCmd(cf *clientFlags) *cobra.Command {
	var repo, ws, desc, site string
	var keywords []string
	cmd := &cobra.Command{
		Use:   "init PACKAGE --repository REPO --workspace WS",
		Short: "Create a new package as a Draft",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			pr, err := c.CreateRevision(cmd.Context(), draft(cf.namespace, repo, args[0], ws, pkgv1alpha1.Task{Type: pkgv1alpha1.TaskTypeInit,
				Init: &pkgv1alpha1.InitTaskSpec{Description: desc, Keywords: keywords, Site: site}}))
			if err != nil {
				return remoteError(err)
			}
			created(cmd, pr)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&repo, "repository", "", "repository of the new package")
	f.StringVar(&ws, "workspace", "", "workspace name of the draft")
	f.StringVar(&desc, "description", "", "the package's description")
	f.StringSliceVar(&keywords, "keywords", nil, "the package's keywords")
	f.StringVar(&site, "site", "", "the package's site")
	_ = cmd.MarkFlagRequired("repository")
	_ = cmd.MarkFlagRequired("workspace")
	return cmd
}

func newRpkgCopyCmd(cf *clientFlags) *cobra.Command {
	var ws string
	cmd := &cobra.Command{
		Use:   "copy SOURCE --workspace WS",
		Short: "Create a Draft of a package from one of its published revisions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			src, err := c.GetRevision(cmd.Context(), cf.namespace, args[0])
			if err != nil {
				return remoteError(err)
			}
			pr, err := c.CreateRevision(cmd.Context(), draft(cf.namespace, src.Spec.Repository, src.Spec.PackageName, ws,
				pkgv1alpha1.Task{Type: pkgv1alpha1.TaskTypeEdit, Edit: &pkgv1alpha1.EditTaskSpec{SourceRef: ref(args[0])}}))
			if err != nil {
				return remoteError(err)
			}
			created(cmd, pr)
			return nil
		},
	}
	cmd.Flags().StringVar(&ws, "workspace", "", "workspace name of the draft")
	_ = cmd.MarkFlagRequired("workspace")
	return cmd
}

func newRpkgCloneCmd(cf *clientFlags) *cobra.Command {
	var repo, ws string
	cmd := &cobra.Command{
		Use:   "clone SOURCE PACKAGE --repository REPO --workspace WS",
		Short: "Create a new package from a published revision of another (catalog → deployment)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			pr, err := c.CreateRevision(cmd.Context(), draft(cf.namespace, repo, args[1], ws,
				pkgv1alpha1.Task{Type: pkgv1alpha1.TaskTypeClone, Clone: &pkgv1alpha1.CloneTaskSpec{UpstreamRef: ref(args[0])}}))
			if err != nil {
				return remoteError(err)
			}
			created(cmd, pr)
			return nil
		},
	}
	cmd.Flags().StringVar(&repo, "repository", "", "repository of the new package")
	cmd.Flags().StringVar(&ws, "workspace", "", "workspace name of the draft")
	_ = cmd.MarkFlagRequired("repository")
	_ = cmd.MarkFlagRequired("workspace")
	return cmd
}

func newRpkgUpgradeCmd(cf *clientFlags) *cobra.Command {
	var ws, oldUp, newUp, strategy string
	var rev int
	cmd := &cobra.Command{
		Use:   "upgrade LOCAL --workspace WS [--revision N | --old-upstream REV --new-upstream REV] [--strategy S]",
		Short: "Create a Draft of a package rebased onto a newer upstream revision (three-way merge)",
		Long: `Create a Draft of the package of LOCAL (a published revision) with the
changes of a newer revision of its upstream merged in. With --revision N, the
upstream is the one LOCAL's Kptfile names (upstreamLock), and the new
revision its v<N> (default: the latest); or name both upstream revisions.

--strategy says how upstream changes meet local ones, as kpt and Porch
name them: resource-merge (the default: a three-way merge of resources,
local edits kept, conflicts refused), copy-merge (upstream files copied
over local ones, local-only files kept), force-delete-replace (the upstream
package as it is, local changes dropped), fast-forward (the upstream
package, refused when LOCAL changed since its upstream lock).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			local, err := c.GetRevision(ctx, cf.namespace, args[0])
			if err != nil {
				return remoteError(err)
			}
			if oldUp == "" || newUp == "" {
				if oldUp != "" || newUp != "" {
					return usageError("give both --old-upstream and --new-upstream, or --revision")
				}
				if oldUp, newUp, err = upstreamRevisions(cmd, c, cf.namespace, args[0], rev); err != nil {
					return err
				}
			}
			pr, err := c.CreateRevision(ctx, draft(cf.namespace, local.Spec.Repository, local.Spec.PackageName, ws,
				pkgv1alpha1.Task{Type: pkgv1alpha1.TaskTypeUpgrade, Upgrade: &pkgv1alpha1.UpgradeTaskSpec{OldUpstream: ref(oldUp),
					NewUpstream: ref(newUp), LocalPackageRevision: ref(args[0]), Strategy: strategy}}))
			if err != nil {
				return remoteError(err)
			}
			created(cmd, pr)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&ws, "workspace", "", "workspace name of the draft")
	f.IntVar(&rev, "revision", 0, "the upstream revision N to upgrade to (default the latest)")
	f.StringVar(&oldUp, "old-upstream", "", "the upstream revision LOCAL was cloned from or last upgraded to")
	f.StringVar(&newUp, "new-upstream", "", "the upstream revision to upgrade to")
	f.StringVar(&strategy, "strategy", "", "resource-merge (default), copy-merge, force-delete-replace or fast-forward")
	_ = cmd.MarkFlagRequired("workspace")
	return cmd
}

// upstreamRevisions finds, from a local revision's Kptfile, the upstream
// revision it was made from and the one to upgrade to (v<n>, or the
// latest): the registered repository whose URL the lock names.
func upstreamRevisions(cmd *cobra.Command, c *client.Client, ns, local string, n int) (string, string, error) {
	ctx := cmd.Context()
	res, err := c.GetResources(ctx, ns, local)
	if err != nil {
		return "", "", remoteError(err)
	}
	var kf struct {
		UpstreamLock struct {
			Git struct {
				Repo      string `json:"repo"`
				Directory string `json:"directory"`
				Ref       string `json:"ref"`
			} `json:"git"`
		} `json:"upstreamLock"`
	}
	if err := yaml.Unmarshal([]byte(res.Spec.Resources["Kptfile"]), &kf); err != nil || kf.UpstreamLock.Git.Repo == "" {
		return "", "", &exitError{code: 1, err: fmt.Errorf("%s has no upstreamLock in its Kptfile: name the upstream revisions (--old-upstream, --new-upstream)", local)}
	}
	lock := kf.UpstreamLock.Git
	repos, err := c.ListRepositories(ctx, ns)
	if err != nil {
		return "", "", remoteError(err)
	}
	for _, r := range repos.Items {
		urls := []string{r.Spec.Git.URL}
		if u := r.Status.CloneURLs; u != nil {
			urls = append(urls, u.HTTP, u.SSH)
		}
		if !slices.Contains(urls, lock.Repo) {
			continue
		}
		pkg := strings.Trim(lock.Directory, "/")
		if dir := strings.Trim(r.Spec.Git.Directory, "/"); dir != "" {
			var ok bool
			if pkg, ok = strings.CutPrefix(pkg, dir+"/"); !ok {
				continue // another registration of the same git repository
			}
		}
		revs, err := c.ListRevisions(ctx, client.RevisionFilter{Namespace: ns, Repository: r.Name, Package: pkg, Lifecycle: "Published"})
		if err != nil {
			return "", "", remoteError(err)
		}
		oldRev := path.Base(lock.Ref)
		var oldName, newName string
		best := 0
		for _, pr := range revs {
			num := 0
			if _, err := fmt.Sscanf(pr.Spec.Revision, "v%d", &num); err != nil {
				continue
			}
			if pr.Spec.Revision == oldRev {
				oldName = pr.Name
			}
			if (n == 0 && num > best) || num == n {
				best, newName = num, pr.Name
			}
		}
		if oldName == "" || newName == "" {
			return "", "", &exitError{code: 1, err: fmt.Errorf("repository %s has no published %s of %s to upgrade between", r.Name, oldRev, pkg)}
		}
		return oldName, newName, nil
	}
	return "", "", &exitError{code: 1, err: fmt.Errorf("no registered repository has the URL %s that %s's Kptfile names", lock.Repo, local)}
}

func newRpkgPushCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "push NAME DIR",
		Short: "Replace the files of a Draft with those of a directory",
		Long: `Replace the files of a Draft with the files under DIR (as rpkg pull wrote
them). The server validates them: errors refuse the push with the findings;
warnings are printed. When DIR was pulled from the same revision, its
.KptRevisionMetadata makes the push fail if the revision changed since.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			files, err := readFiles(args[1])
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			meta, err := readRevisionMetadata(args[1], files)
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			res := &pkgv1alpha1.PackageRevisionResources{
				TypeMeta:   metav1.TypeMeta{APIVersion: pkgv1alpha1.APIVersion, Kind: "PackageRevisionResources"},
				ObjectMeta: metav1.ObjectMeta{Namespace: cf.namespace, Name: args[0]},
				Spec:       pkgv1alpha1.PackageRevisionResourcesSpec{Resources: files},
			}
			if meta != nil && meta.Name == args[0] {
				// Pulled from this revision: pushed only if it did not
				// change since (409 otherwise).
				res.ResourceVersion = meta.ResourceVersion
			}
			out, err := c.PutResources(cmd.Context(), res)
			if err != nil {
				return remoteError(err)
			}
			if out.Status != nil {
				for _, r := range out.Status.Results {
					fmt.Fprintln(cmd.ErrOrStderr(), validate.Line(r))
				}
			}
			if meta != nil && meta.Name == args[0] {
				// The directory now holds what the revision holds.
				if err := writeRevisionMetadata(args[1], out); err != nil {
					return &exitError{code: 1, err: err}
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d files pushed\n", args[0], len(files))
			return nil
		},
	}
}

// readFiles reads the files of a package directory, skipping what git
// would not hold (.git) and what the pull wrote for its own use.
func readFiles(dir string) (map[string]string, error) {
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file", p)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = string(data)
		return nil
	})
	return files, err
}

// newRpkgLifecycleCmd makes the commands that move revisions along the
// lifecycle, each over one or more revisions.
func newRpkgLifecycleCmd(cf *clientFlags, use, short, done string, apply func(*client.Client, *cobra.Command, *pkgv1alpha1.PackageRevision) error) *cobra.Command {
	return &cobra.Command{
		Use:   use + " NAME...",
		Short: short,
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			for _, name := range args {
				pr, err := c.GetRevision(cmd.Context(), cf.namespace, name)
				if err != nil {
					return remoteError(err)
				}
				if err := apply(c, cmd, pr); err != nil {
					return remoteError(err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", name, done)
			}
			return nil
		},
	}
}

func lifecycleCommands(cf *clientFlags) []*cobra.Command {
	to := func(lc string, approval bool) func(*client.Client, *cobra.Command, *pkgv1alpha1.PackageRevision) error {
		return func(c *client.Client, cmd *cobra.Command, pr *pkgv1alpha1.PackageRevision) error {
			pr.Spec.Lifecycle = lc
			var err error
			if approval {
				_, err = c.Approval(cmd.Context(), pr)
			} else {
				_, err = c.UpdateRevision(cmd.Context(), pr)
			}
			return err
		}
	}
	reject := func(c *client.Client, cmd *cobra.Command, pr *pkgv1alpha1.PackageRevision) error {
		switch pr.Spec.Lifecycle {
		case "Proposed":
			return to("Draft", true)(c, cmd, pr)
		case "DeletionProposed":
			return to("Published", true)(c, cmd, pr)
		}
		return fmt.Errorf("%s is %s: only proposals are rejected", pr.Name, strings.ToLower(pr.Spec.Lifecycle))
	}
	del := func(c *client.Client, cmd *cobra.Command, pr *pkgv1alpha1.PackageRevision) error {
		return c.DeleteRevision(cmd.Context(), pr.Namespace, pr.Name)
	}
	return []*cobra.Command{
		newRpkgLifecycleCmd(cf, "propose", "Propose Drafts for approval", "proposed", to("Proposed", false)),
		newRpkgLifecycleCmd(cf, "approve", "Publish proposals (the next v<N> of their packages)", "approved", to("Published", true)),
		newRpkgLifecycleCmd(cf, "reject", "Return proposals to Draft, or keep revisions proposed for deletion", "rejected", reject),
		newRpkgLifecycleCmd(cf, "propose-delete", "Propose the deletion of published revisions", "proposed for deletion", to("DeletionProposed", true)),
		newRpkgLifecycleCmd(cf, "del", "Delete Drafts and Proposed revisions, or approve proposed deletions", "deleted", del),
	}
}

// revisionMetadataFile is what rpkg pull writes beside a package's files,
// as porchctl does: the revision's identity and resource version.
const revisionMetadataFile = ".KptRevisionMetadata"

func writeRevisionMetadata(dir string, res *pkgv1alpha1.PackageRevisionResources) error {
	meta := metav1.ObjectMeta{Name: res.Name, Namespace: res.Namespace, ResourceVersion: res.ResourceVersion}
	data, err := yaml.Marshal(map[string]any{"apiVersion": pkgv1alpha1.APIVersion, "kind": "PackageRevision", "metadata": meta})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, revisionMetadataFile), data, 0o644)
}

// readRevisionMetadata takes the metadata file out of a directory's files
// and reads it; nil when there is none.
func readRevisionMetadata(dir string, files map[string]string) (*metav1.ObjectMeta, error) {
	text, ok := files[revisionMetadataFile]
	if !ok {
		return nil, nil
	}
	delete(files, revisionMetadataFile)
	var obj struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	if err := yaml.Unmarshal([]byte(text), &obj); err != nil {
		return nil, fmt.Errorf("%s: %v", filepath.Join(dir, revisionMetadataFile), err)
	}
	return &obj.Metadata, nil
}
