package render

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/kio/kioutil"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// The StarlarkRun functionConfig's group, version and kind.
const (
	starlarkRunAPIVersion = "fn.kpt.dev/v1alpha1"
	starlarkRunKind       = "StarlarkRun"
)

// legacyIDAnnotation is the id annotation of kyaml before v0.12, which kpt
// still gives functions beside internal.config.kubernetes.io/id.
const legacyIDAnnotation = "config.k8s.io/id"

// starlarkMaxSteps bounds a script's run: past this many Starlark
// execution steps (about one per bytecode instruction) the script is
// stopped and the function fails.
const starlarkMaxSteps = 10_000_000

// starlarkMaxValues bounds the values a resource list or a script's output
// may hold, YAML aliases expanded, and starlarkMaxDepth their nesting.
const (
	starlarkMaxValues = 10_000_000
	starlarkMaxDepth  = 1_000
)

// starlarkOptions are the dialect the catalog's function enables: sets,
// while loops and recursion, and if, for and while at the top level with
// top-level names reassignable.
var starlarkOptions = syntax.FileOptions{
	Set:             true,
	While:           true,
	TopLevelControl: true,
	GlobalReassign:  true,
	Recursion:       true,
}

// runStarlark is the catalog's starlark: it runs a Starlark script over the
// resources. The script comes from a StarlarkRun's source (its params at
// ctx.resource_list["functionConfig"]["params"]) or a ConfigMap's
// data.source (the other data beside it). The script sees
// ctx.resource_list, a dict with "items", the resources, and
// "functionConfig", each converted from YAML to Starlark dicts, lists,
// strings, ints, floats, bools and None; whatever it leaves in
// ctx.resource_list["items"] becomes the resources, so it may change, add,
// remove and reorder them. As with kpt, each resource the script was given
// carries an id annotation through which the output gets back the input's
// comments and field order; new fields come after the input's, sorted.
// print() output is reported as info results; fail() or any error fails
// the function with its message.
//
// The script runs bounded and closed: it is stopped after starlarkMaxSteps
// execution steps, load() of any module fails (the catalog's libraries,
// http among them, are not provided), and Starlark itself has no file,
// network or clock access. ctx.environment is empty rather than the
// server's environment, and ctx.open_api is not provided.
func runStarlark(rl *framework.ResourceList) error {
	return execStarlark(rl, starlarkMaxSteps)
}

// execStarlark is runStarlark with a step limit of maxSteps.
func execStarlark(rl *framework.ResourceList, maxSteps uint64) (err error) {
	name, source, err := starlarkScript(rl.FunctionConfig)
	if err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("starlark: the script's run failed: %v", r)
		}
	}()
	// The script works on Starlark values, not on the nodes: they are given
	// ids to find them by, and stay as they were for the resources the
	// script keeps to get their comments and order back from.
	inputs := rl.Items
	migration, err := preprocessAnnotations(inputs)
	if err != nil {
		return fmt.Errorf("starlark: %w", err)
	}
	ids := setStarlarkIDs(inputs)
	conv := &starlarkConverter{}
	list, err := conv.resourceList(inputs, rl.FunctionConfig)
	if err != nil {
		return fmt.Errorf("starlark: %w", err)
	}
	printed, err := runScript(name, source, list, maxSteps)
	rl.Results = append(rl.Results, printed...)
	if err != nil {
		return err
	}
	items, err := starlarkItems(list, ids)
	if err != nil {
		return fmt.Errorf("starlark: %w", err)
	}
	restoreStarlarkComments(items, ids)
	if err := reconcileAnnotations(items, migration); err != nil {
		return fmt.Errorf("starlark: %w", err)
	}
	rl.Items = items
	return nil
}

// starlarkScript returns a StarlarkRun's or a ConfigMap's name and
// script.
func starlarkScript(config *yaml.RNode) (name, source string, err error) {
	if config == nil {
		return "", "", fmt.Errorf("starlark: a functionConfig is required: give the function a configMap with the script in source")
	}
	switch apiVersion, kind := config.GetApiVersion(), config.GetKind(); {
	case apiVersion == "v1" && kind == "ConfigMap":
		source = config.GetDataMap()["source"]
	case apiVersion == starlarkRunAPIVersion && kind == starlarkRunKind:
		f := config.Field("source")
		if f != nil && !yaml.IsMissingOrNull(f.Value) {
			if f.Value.YNode().Kind != yaml.ScalarNode {
				return "", "", fmt.Errorf("starlark: %s: source must be a string", starlarkRunKind)
			}
			source = f.Value.YNode().Value
		}
	default:
		return "", "", fmt.Errorf("starlark: functionConfig must be a ConfigMap or a %s %s, not %s %s",
			starlarkRunAPIVersion, starlarkRunKind, apiVersion, kind)
	}
	if strings.TrimSpace(source) == "" {
		return "", "", fmt.Errorf("starlark: `source` must not be empty")
	}
	name = config.GetName()
	if name == "" {
		name = "starlark-function-run"
	}
	return name, source, nil
}

// runScript runs a script with ctx.resource_list set to list, returning
// what it printed as results.
func runScript(name, source string, list *starlark.Dict, maxSteps uint64) (framework.Results, error) {
	var printed framework.Results
	thread := &starlark.Thread{
		Name: name,
		Print: func(_ *starlark.Thread, msg string) {
			printed = append(printed, &framework.Result{Message: msg, Severity: framework.Info})
		},
		Load: func(_ *starlark.Thread, module string) (starlark.StringDict, error) {
			return nil, fmt.Errorf("load(%q): the in-process starlark function loads no modules", module)
		},
	}
	thread.SetMaxExecutionSteps(maxSteps)
	ctx := starlarkstruct.FromStringDict(starlarkstruct.Default, starlark.StringDict{
		"resource_list": list,
		"environment":   starlark.NewDict(0),
	})
	_, err := starlark.ExecFileOptions(&starlarkOptions, thread, name, source, starlark.StringDict{"ctx": ctx})
	if err == nil {
		return printed, nil
	}
	if thread.ExecutionSteps() >= maxSteps {
		return printed, fmt.Errorf("starlark: the script was stopped after %d execution steps, its limit", maxSteps)
	}
	var evalErr *starlark.EvalError
	if errors.As(err, &evalErr) {
		return printed, fmt.Errorf("starlark: %s%s", evalErr.Msg, scriptPosition(evalErr.CallStack, name))
	}
	return printed, fmt.Errorf("starlark: %w", err)
}

// scriptPosition returns where in the script the innermost frame of a
// call stack is, as " (at FILE:LINE:COL)".
func scriptPosition(stack starlark.CallStack, name string) string {
	for i := len(stack) - 1; i >= 0; i-- {
		if pos := stack[i].Pos; pos.Filename() == name {
			return fmt.Sprintf(" (at %s)", pos)
		}
	}
	return ""
}

// setStarlarkIDs gives each input the id annotations kpt gives a function's
// inputs and returns the inputs by id.
func setStarlarkIDs(inputs []*yaml.RNode) map[string]*yaml.RNode {
	ids := make(map[string]*yaml.RNode, len(inputs))
	for i, n := range inputs {
		id := strconv.Itoa(i + 1)
		setAnnotationList(n, [][2]string{{kioutil.IdAnnotation, id}, {legacyIDAnnotation, id}})
		ids[id] = n
	}
	return ids
}

// restoreStarlarkComments gives each output that kept an input's id the
// input's comments, and drops the id, as kpt does (starlarkItems has
// built it in the input's field order).
func restoreStarlarkComments(items []*yaml.RNode, ids map[string]*yaml.RNode) {
	for _, n := range items {
		id, ok := annotation(n, kioutil.IdAnnotation)
		if !ok {
			id, ok = annotation(n, legacyIDAnnotation)
		}
		in, found := ids[id]
		if !ok || !found {
			continue
		}
		// Only a resource that had comments has any to get back.
		if hasComments(in.YNode()) {
			copyComments(in.YNode(), n.YNode())
			rearrangeSeqItemComments(n.YNode())
		}
		clearAnnotation(n, kioutil.IdAnnotation)
		clearAnnotation(n, legacyIDAnnotation)
	}
}

// hasComments tells whether a node or any node below it carries a comment.
func hasComments(n *yaml.Node) bool {
	if n == nil {
		return false
	}
	if n.HeadComment != "" || n.LineComment != "" || n.FootComment != "" {
		return true
	}
	for _, c := range n.Content {
		if hasComments(c) {
			return true
		}
	}
	return false
}

// starlarkItems returns the resources a script left in the resource
// list's items.
func starlarkItems(list *starlark.Dict, ids map[string]*yaml.RNode) ([]*yaml.RNode, error) {
	v, found, err := list.Get(starlark.String("items"))
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf(`the script removed ctx.resource_list["items"]`)
	}
	seq, ok := v.(starlark.Indexable)
	if _, isString := v.(starlark.String); !ok || isString {
		return nil, fmt.Errorf(`ctx.resource_list["items"] must be a list of resources, not a %s`, v.Type())
	}
	return yamlItems(seq, ids)
}

// starlarkID returns the id annotation of a resource as the script left
// it, "" when it has none.
func starlarkID(d *starlark.Dict) string {
	v := starlark.Value(d)
	for _, key := range []string{"metadata", "annotations"} {
		m, ok := v.(*starlark.Dict)
		if !ok {
			return ""
		}
		if v, ok, _ = m.Get(starlark.String(key)); !ok {
			return ""
		}
	}
	a, ok := v.(*starlark.Dict)
	if !ok {
		return ""
	}
	for _, key := range []string{kioutil.IdAnnotation, legacyIDAnnotation} {
		if id, ok, _ := a.Get(starlark.String(key)); ok {
			if s, ok := id.(starlark.String); ok {
				return string(s)
			}
		}
	}
	return ""
}
