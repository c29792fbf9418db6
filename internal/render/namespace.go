package render

import (
	"fmt"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/api/filters/namespace"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/resid"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// dependsOnAnnotation is kpt's depends-on annotation: references, comma
// separated, to the resources one must wait for, a namespaced one written
// GROUP/namespaces/NAMESPACE/KIND/NAME.
const dependsOnAnnotation = "config.kubernetes.io/depends-on"

// setNamespace is the catalog's set-namespace: the ConfigMap's
// data.namespace becomes the namespace of every namespaced resource, the
// name of the Namespace, the namespace of RoleBinding and
// ClusterRoleBinding subjects named default, of a CustomResourceDefinition's
// conversion webhook service and of an APIService's service; a depends-on
// reference to a resource of the package follows that resource into its new
// namespace.
func setNamespace(rl *framework.ResourceList) error {
	data, err := configMapData("set-namespace", rl.FunctionConfig)
	if err != nil {
		return err
	}
	ns := data["namespace"]
	if ns == "" {
		return fmt.Errorf("set-namespace: input namespace cannot be empty: set data.namespace")
	}
	fs, err := parseFieldSpecs(namespaceFieldSpecs)
	if err != nil {
		return err
	}
	before := make([]dependsOnKey, len(rl.Items))
	for i, n := range rl.Items {
		before[i] = keyOf(n)
	}
	// The filter changes only the resource it is given: each is filtered
	// on its own (or its namespace set as the filter sets it), in
	// parallel, and the first one's error in order reported as the filter
	// over all would report it.
	f := namespace.Filter{Namespace: ns, FsSlice: fs, SetRoleBindingSubjects: namespace.DefaultSubjectsOnly}
	err = eachParallel(len(rl.Items), func(i int) error {
		if setNamespaceField(rl.Items[i], ns, fs) {
			return nil
		}
		_, err := f.Filter(rl.Items[i : i+1])
		return err
	})
	if err != nil {
		return fmt.Errorf("set-namespace: %w", err)
	}
	moved := map[dependsOnKey]string{}
	for i, n := range rl.Items {
		if before[i].namespace != "" {
			moved[before[i]] = n.GetNamespace()
		}
	}
	for _, n := range rl.Items {
		if err := followDependsOn(n, moved); err != nil {
			return fmt.Errorf("set-namespace: %w", err)
		}
	}
	return nil
}

// dependsOnKey identifies a namespaced resource as a depends-on reference
// does.
type dependsOnKey struct {
	group, kind, namespace, name string
}

func keyOf(n *yaml.RNode) dependsOnKey {
	group, _ := resid.ParseGroupVersion(n.GetApiVersion())
	return dependsOnKey{group: group, kind: n.GetKind(), namespace: n.GetNamespace(), name: n.GetName()}
}

// followDependsOn rewrites the namespace of each depends-on reference of n
// whose resource moved.
func followDependsOn(n *yaml.RNode, moved map[dependsOnKey]string) error {
	value, ok := annotation(n, dependsOnAnnotation)
	if !ok {
		return nil
	}
	refs := strings.Split(value, ",")
	changed := false
	for i, ref := range refs {
		seg := strings.Split(strings.TrimSpace(ref), "/")
		if len(seg) != 5 || seg[1] != "namespaces" {
			continue
		}
		to, ok := moved[dependsOnKey{group: seg[0], kind: seg[3], namespace: seg[2], name: seg[4]}]
		if !ok || to == seg[2] {
			continue
		}
		seg[2] = to
		refs[i] = strings.Join(seg, "/")
		changed = true
	}
	if !changed {
		return nil
	}
	return n.PipeE(yaml.SetAnnotation(dependsOnAnnotation, strings.Join(refs, ",")))
}

// setNamespaceField does to resource n what kustomize's namespace filter
// does to a resource that is no (Cluster)RoleBinding and that none of its
// field specs fs applies to, and reports whether it did: the filter sets
// metadata.namespace, appended where missing, to ns, as kyaml's
// FieldSetter leaves a scalar it sets (tagged !!str, the field's style
// kept, its comments and anchor gone), unless the kind is cluster-scoped.
// Anything else is left to the filter: a binding, a kind a spec applies
// to, metadata that is not a mapping, a namespace that is not a scalar.
// The filter parses the namespace with a YAML 1.1 parser for every
// resource, to find a quoting it then drops for the field's style.
func setNamespaceField(n *yaml.RNode, ns string, fs types.FsSlice) bool {
	gvk := resid.GvkFromNode(n)
	if gvk.Kind == "RoleBinding" || gvk.Kind == "ClusterRoleBinding" ||
		slices.ContainsFunc(fs, func(spec types.FieldSpec) bool { return gvkMatches(spec, gvk.Kind, gvk.Group, gvk.Version) }) {
		return false
	}
	if gvk.IsClusterScoped() {
		return true
	}
	meta := fieldValue(resourceMapping(n), yaml.MetadataField)
	if meta == nil || meta.Kind != yaml.MappingNode || meta.Tag == yaml.NodeTagNull {
		return false
	}
	i := fieldIndex(meta, yaml.NamespaceField)
	if i < 0 {
		meta.Content = append(meta.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Value: yaml.NamespaceField},
			&yaml.Node{Kind: yaml.ScalarNode, Tag: yaml.NodeTagString, Value: ns})
		return true
	}
	field := meta.Content[i]
	if field.Kind != yaml.ScalarNode {
		return false
	}
	*field = yaml.Node{Kind: yaml.ScalarNode, Tag: yaml.NodeTagString, Value: ns, Style: field.Style}
	return true
}
