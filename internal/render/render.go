package render

import (
	"context"
	"path/filepath"
	"time"

	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Options configures a render.
type Options struct {
	// DryRun runs the pipeline and reports what it would change, writing
	// nothing (`pkgserver fn render --check`).
	DryRun bool
	// AllowExec lets the pipeline run `exec:` functions as processes on
	// this machine. The local CLI allows them; the server only where its
	// operator says so (serve --allow-exec-functions).
	AllowExec bool
	// ExecTimeout bounds each exec function's run; zero means
	// DefaultExecTimeout.
	ExecTimeout time.Duration
}

// DefaultExecTimeout is how long an exec function may run when Options
// say nothing.
const DefaultExecTimeout = time.Minute

// Outcome is what a render did or, with DryRun, would do.
type Outcome struct {
	// Results are the results of the functions that ran, as kpt prints
	// them. Its ExitCode is 1 when the render failed.
	Results *ResultList
	// Changed lists the files, relative to the package and slash-separated,
	// whose resources the pipeline changed (or created), sorted.
	Changed []string
	// Deleted lists the files whose every resource the pipeline removed,
	// sorted.
	Deleted []string
	// Contents holds the rendered bytes of each file in Changed, written
	// or, with DryRun, that would be written.
	Contents map[string][]byte
	// Packages is how many packages the render ran the pipelines of: the
	// package and each of its subpackages.
	Packages int
}

// Render renders the package in directory dir in place, as `kpt fn
// render` does: its subpackages first, depth first, each over its own
// resources and its subpackages' rendered ones, then the package's own
// pipeline over its resources and all of its subpackages'. A pipeline runs
// its mutators in order, then its validators over copies of the result.
// The files whose resources changed are written back, in the package and
// its subpackages. On any error nothing is written; a function that failed
// is reported as a *FunctionError. The outcome is returned on error too:
// its Results hold what the functions that ran reported.
func Render(ctx context.Context, dir string, opts Options) (*Outcome, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return &Outcome{Results: failedList()}, err
	}
	return render(ctx, diskFS{filesys.MakeFsOnDisk()}, abs, opts)
}

// RenderFS is Render over a file system other than the disk, such as
// kyaml's in-memory one; dir is the package's directory in it.
func RenderFS(ctx context.Context, fsys filesys.FileSystem, dir string, opts Options) (*Outcome, error) {
	return render(ctx, fsys, filepath.Clean(dir), opts)
}

func render(ctx context.Context, fsys filesys.FileSystem, dir string, opts Options) (*Outcome, error) {
	out := &Outcome{Results: NewResultList()}
	fail := func(err error) (*Outcome, error) {
		out.Results.ExitCode = 1
		return out, err
	}
	if opts.ExecTimeout <= 0 {
		opts.ExecTimeout = DefaultExecTimeout
	}
	root, err := loadTree(fsys, dir)
	if err != nil {
		return fail(err)
	}
	read, err := rootRelative(root.dir, copyNodes(root.allLocal()))
	if err != nil {
		return fail(err)
	}
	h := &hydration{fsys: fsys, root: root, opts: opts, results: out.Results}
	items, err := h.hydrate(ctx, root)
	out.Packages = h.packages
	if err != nil {
		return fail(err)
	}
	if items, err = rootRelative(root.dir, items); err != nil {
		return fail(err)
	}
	plan, err := planWrite(read, items)
	if err != nil {
		return fail(err)
	}
	out.Changed, out.Deleted, out.Contents = plan.changedPaths(), plan.deleted, plan.changed
	if opts.DryRun {
		return out, nil
	}
	if err := plan.apply(fsys, dir); err != nil {
		return fail(err)
	}
	return out, nil
}

// copyNodes returns deep copies of resources, as RNode.Copy makes them
// (an alias still points where the original's does), each resource's
// nodes allocated together and their contents together, the resources
// copied in parallel.
func copyNodes(nodes []*yaml.RNode) []*yaml.RNode {
	out := make([]*yaml.RNode, len(nodes))
	_ = eachParallel(len(nodes), func(i int) error {
		out[i] = copyNode(nodes[i])
		return nil
	})
	return out
}

func copyNode(rn *yaml.RNode) *yaml.RNode {
	if rn == nil || rn.YNode() == nil {
		return rn.Copy()
	}
	var t treeCopy
	t.count(rn.YNode())
	t.nodes = make([]yaml.Node, 0, t.nodeCount)
	t.content = make([]*yaml.Node, 0, t.contentCount)
	c := yaml.NewRNode(t.copy(rn.YNode()))
	c.AppendToFieldPath(rn.FieldPath()...)
	c.ShouldKeep, c.Match = rn.ShouldKeep, rn.Match
	return c
}

// treeCopy copies a YAML tree into nodes and content allocated for it.
type treeCopy struct {
	nodeCount, contentCount int
	nodes                   []yaml.Node
	content                 []*yaml.Node
}

func (t *treeCopy) count(n *yaml.Node) {
	t.nodeCount++
	t.contentCount += len(n.Content)
	for _, c := range n.Content {
		if c != nil {
			t.count(c)
		}
	}
}

// copy copies n; each copy's content has no room to grow into its
// neighbour's.
func (t *treeCopy) copy(n *yaml.Node) *yaml.Node {
	t.nodes = append(t.nodes, *n)
	c := &t.nodes[len(t.nodes)-1]
	if len(n.Content) == 0 {
		return c
	}
	start := len(t.content)
	t.content = t.content[:start+len(n.Content)]
	c.Content = t.content[start:len(t.content):len(t.content)]
	for i, item := range n.Content {
		if item != nil {
			c.Content[i] = t.copy(item)
		}
	}
	return c
}
