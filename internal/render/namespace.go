package render

import (
	"fmt"
	"strings"

	"sigs.k8s.io/kustomize/api/filters/namespace"
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
	// on its own, in parallel, and the first one's error in order reported
	// as the filter over all would report it.
	f := namespace.Filter{Namespace: ns, FsSlice: fs, SetRoleBindingSubjects: namespace.DefaultSubjectsOnly}
	err = eachParallel(len(rl.Items), func(i int) error {
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
