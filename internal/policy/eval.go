package policy

import (
	"context"
	"fmt"
	"slices"
	"strings"

	celtypes "github.com/google/cel-go/common/types"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	k8sschema "k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	celplugin "k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/predicates/rules"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/pkgserver/pkgserver/internal/result"
)

// Input is one resource to evaluate the policies on.
type Input struct {
	// Object is the resource; OldObject is the same resource in the previous
	// published revision of the package, or nil.
	Object    map[string]any
	OldObject map[string]any
	// GVK, Resource and Namespaced describe the resource's kind.
	GVK        k8sschema.GroupVersionKind
	Resource   string
	Namespaced bool
	// Namespace is the Namespace object of the resource's namespace when the
	// package holds it, else nil.
	Namespace map[string]any
}

// Finding is a policy's verdict on a resource.
type Finding struct {
	Policy   string
	Binding  string
	Severity result.Severity
	Message  string
	// Reason is the validation's reason (Invalid, Forbidden, ...).
	Reason string
}

// Evaluate runs every policy whose constraints match the resource and
// returns the validations that failed. As in the API server, an expression
// that cannot be evaluated fails the policy when its failurePolicy is Fail
// (the default) and is ignored when it is Ignore.
func (s *Set) Evaluate(ctx context.Context, in Input) []Finding {
	if len(s.policies) == 0 {
		return nil
	}
	obj := &unstructured.Unstructured{Object: in.Object}
	var old runtime.Object
	op := admission.Create
	if in.OldObject != nil {
		old = &unstructured.Unstructured{Object: in.OldObject}
		op = admission.Update
	}
	gvr := in.GVK.GroupVersion().WithResource(in.Resource)
	attr := admission.NewAttributesRecord(obj, old, in.GVK, obj.GetNamespace(), obj.GetName(), gvr, "", op, nil, true, &user.DefaultInfo{})
	versioned := &admission.VersionedAttributes{Attributes: attr, VersionedKind: in.GVK, VersionedObject: admission.NewLazyObject(obj)}
	if old != nil {
		versioned.VersionedOldObject = admission.NewLazyObject(old)
	}
	var ns *corev1.Namespace
	if in.Namespace != nil {
		ns = &corev1.Namespace{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(in.Namespace, ns); err != nil {
			ns = nil
		}
	}
	m := matchInput{attr: attr, namespaced: in.Namespaced, obj: obj, old: in.OldObject, ns: ns}

	var out []Finding
	for _, p := range s.policies {
		if !m.matches(p.spec.MatchConstraints) {
			continue
		}
		for _, b := range p.bindings {
			if b.match != nil && !m.matches(b.match) {
				continue
			}
			params, found := b.paramObjects(obj.GetNamespace())
			if !found {
				if b.paramRef.ParameterNotFoundAction == nil || *b.paramRef.ParameterNotFoundAction == admissionv1.DenyAction {
					out = append(out, Finding{Policy: p.name, Binding: b.name, Severity: b.severity, Reason: string(metav1.StatusReasonInvalid),
						Message: fmt.Sprintf("no params found for policy binding %q", b.name)})
				}
				continue
			}
			for _, param := range params {
				out = append(out, p.evaluate(ctx, b, versioned, gvr, param, ns)...)
			}
		}
	}
	return out
}

func (p *compiled) failure(b *binding, err error) []Finding {
	if p.failurePolicy == admissionv1.Ignore {
		return nil
	}
	return []Finding{{Policy: p.name, Binding: b.name, Severity: b.severity, Reason: string(metav1.StatusReasonInternalError),
		Message: fmt.Sprintf("policy %q could not be evaluated: %v", p.name, err)}}
}

func (p *compiled) evaluate(ctx context.Context, b *binding, versioned *admission.VersionedAttributes, gvr k8sschema.GroupVersionResource, param runtime.Object, ns *corev1.Namespace) []Finding {
	if p.matcher != nil {
		mr := p.matcher.Match(ctx, versioned, param, nil)
		if mr.Error != nil {
			return p.failure(b, mr.Error)
		}
		if !mr.Matches {
			return nil
		}
	}
	vars := celplugin.OptionalVariableBindings{VersionedParams: param}
	request := celplugin.CreateAdmissionRequest(versioned.Attributes, metav1.GroupVersionResource(gvr), metav1.GroupVersionKind(versioned.VersionedKind))
	nsObj := celplugin.CreateNamespaceObject(ns)
	results, budget, err := p.validations.ForInput(ctx, versioned, request, vars, nsObj, celconfig.RuntimeCELCostBudget)
	if err != nil {
		return p.failure(b, err)
	}
	messages, _, _ := p.messages.ForInput(ctx, versioned, request, vars, nsObj, budget)
	var out []Finding
	for i, r := range results {
		if r.Error != nil {
			out = append(out, p.failure(b, r.Error)...)
			continue
		}
		if r.EvalResult == celtypes.True {
			continue
		}
		rule := p.rules[i]
		reason := string(metav1.StatusReasonInvalid)
		if rule.Reason != nil {
			reason = string(*rule.Reason)
		}
		out = append(out, Finding{Policy: p.name, Binding: b.name, Severity: b.severity, Reason: reason,
			Message: message(rule, messages, i)})
	}
	return out
}

// message picks a failed validation's message as the API server does: the
// messageExpression's result when it is a one-line string within the size
// limit, else the message, else the expression.
func message(rule admissionv1.Validation, results []celplugin.EvaluationResult, i int) string {
	if i < len(results) && results[i].Error == nil && results[i].EvalResult != nil {
		if s, ok := results[i].EvalResult.Value().(string); ok {
			s = strings.TrimSpace(s)
			if s != "" && len(s) <= celconfig.MaxEvaluatedMessageExpressionSizeBytes && !strings.Contains(s, "\n") {
				return s
			}
		}
	}
	if m := strings.TrimSpace(rule.Message); m != "" {
		return m
	}
	return "failed expression: " + strings.TrimSpace(rule.Expression)
}

// matchInput decides whether match constraints select a resource.
type matchInput struct {
	attr       admission.Attributes
	namespaced bool
	obj        *unstructured.Unstructured
	old        map[string]any
	ns         *corev1.Namespace
}

func (m matchInput) matches(mr *admissionv1.MatchResources) bool {
	if mr == nil {
		return true
	}
	if len(mr.ResourceRules) > 0 && !m.anyRule(mr.ResourceRules) {
		return false
	}
	if len(mr.ExcludeResourceRules) > 0 && m.anyRule(mr.ExcludeResourceRules) {
		return false
	}
	if !m.objectSelected(mr.ObjectSelector) {
		return false
	}
	return m.namespaceSelected(mr.NamespaceSelector)
}

func (m matchInput) anyRule(list []admissionv1.NamedRuleWithOperations) bool {
	for _, r := range list {
		if len(r.ResourceNames) > 0 && !slices.Contains(r.ResourceNames, m.obj.GetName()) {
			continue
		}
		rm := rules.Matcher{Rule: r.RuleWithOperations, Attr: m.attr}
		if rm.Matches() {
			return true
		}
	}
	return false
}

// objectSelected matches the object's labels, or on an update the old
// object's, as the API server does.
func (m matchInput) objectSelected(sel *metav1.LabelSelector) bool {
	if sel == nil {
		return true
	}
	if labelsMatch(sel, m.obj.GetLabels()) {
		return true
	}
	if m.old != nil {
		return labelsMatch(sel, (&unstructured.Unstructured{Object: m.old}).GetLabels())
	}
	return false
}

// namespaceSelected matches the labels of the resource's namespace. A
// Namespace is matched on its own labels; other cluster-scoped resources
// always match. The namespace's labels are those of the Namespace object in
// the package, or none when the package has none.
func (m matchInput) namespaceSelected(sel *metav1.LabelSelector) bool {
	if sel == nil {
		return true
	}
	if m.attr.GetKind().Group == "" && m.attr.GetKind().Kind == "Namespace" {
		return labelsMatch(sel, m.obj.GetLabels())
	}
	if !m.namespaced {
		return true
	}
	var nsLabels map[string]string
	if m.ns != nil {
		nsLabels = m.ns.Labels
	}
	return labelsMatch(sel, nsLabels)
}

func labelsMatch(sel *metav1.LabelSelector, l map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false
	}
	return s.Matches(labels.Set(l))
}
