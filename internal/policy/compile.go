package policy

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	celplugin "k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/matchconditions"
	"k8s.io/apiserver/pkg/cel/environment"

	"github.com/pkgserver/pkgserver/internal/result"
)

// Set is a compiled set of policies. It is safe for concurrent use.
type Set struct {
	policies []*compiled
}

// Len returns the number of policies in the set.
func (s *Set) Len() int { return len(s.policies) }

// Names returns the names of the policies in the set, in load order.
func (s *Set) Names() []string {
	names := make([]string, len(s.policies))
	for i, p := range s.policies {
		names[i] = p.name
	}
	return names
}

type compiled struct {
	name          string
	source        string
	spec          admissionv1.ValidatingAdmissionPolicySpec
	failurePolicy admissionv1.FailurePolicyType
	matcher       matchconditions.Matcher
	validations   celplugin.ConditionEvaluator
	messages      celplugin.ConditionEvaluator
	rules         []admissionv1.Validation
	bindings      []*binding
}

type binding struct {
	name     string
	severity result.Severity
	match    *admissionv1.MatchResources
	paramRef *admissionv1.ParamRef
	// params are the objects a paramRef may select among.
	params []*unstructured.Unstructured
}

var (
	baseEnvOnce sync.Once
	baseEnv     *environment.EnvSet
)

// envSet is the CEL environment of the Kubernetes API server for admission
// policies (libraries, types and cost limits), built once per process.
func envSet() *environment.EnvSet {
	baseEnvOnce.Do(func() {
		baseEnv = environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion())
	})
	return baseEnv
}

// Compile type-checks every policy and binding of the sources with the
// CEL environment of the Kubernetes API server. Any problem is an error
// naming the file and line of the offending document.
func (s *Sources) Compile() (*Set, error) {
	p, err := s.parse()
	if err != nil {
		return nil, err
	}
	byPolicy := map[string][]*binding{}
	for _, sb := range p.bindings {
		b, err := newBinding(sb.obj, p.params)
		if err != nil {
			return nil, fmt.Errorf("%s: ValidatingAdmissionPolicyBinding %q: %w", sb.source, sb.obj.Name, err)
		}
		byPolicy[sb.obj.Spec.PolicyName] = append(byPolicy[sb.obj.Spec.PolicyName], b)
	}
	set := &Set{}
	for _, sp := range p.policies {
		c, err := compilePolicy(sp.obj, sp.source)
		if err != nil {
			return nil, fmt.Errorf("%s: ValidatingAdmissionPolicy %q: %w", sp.source, sp.obj.Name, err)
		}
		c.bindings = byPolicy[sp.obj.Name]
		delete(byPolicy, sp.obj.Name)
		if len(c.bindings) == 0 {
			b, err := implicitBinding(sp.obj)
			if err != nil {
				return nil, fmt.Errorf("%s: ValidatingAdmissionPolicy %q: %w", sp.source, sp.obj.Name, err)
			}
			c.bindings = []*binding{b}
		}
		if sp.obj.Spec.ParamKind != nil {
			for _, b := range c.bindings {
				if b.paramRef == nil {
					return nil, fmt.Errorf("%s: ValidatingAdmissionPolicy %q has paramKind but binding %q has no paramRef", sp.source, sp.obj.Name, b.name)
				}
				b.params = paramsOfKind(p.params, sp.obj.Spec.ParamKind)
			}
		}
		set.policies = append(set.policies, c)
	}
	for _, sb := range p.bindings {
		if _, orphan := byPolicy[sb.obj.Spec.PolicyName]; orphan {
			return nil, fmt.Errorf("%s: ValidatingAdmissionPolicyBinding %q binds policy %q, which is not loaded", sb.source, sb.obj.Name, sb.obj.Spec.PolicyName)
		}
	}
	return set, nil
}

func paramsOfKind(docs []document, pk *admissionv1.ParamKind) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, d := range docs {
		if d.obj["apiVersion"] == pk.APIVersion && d.obj["kind"] == pk.Kind {
			out = append(out, &unstructured.Unstructured{Object: d.obj})
		}
	}
	return out
}

// severityOf maps validation actions to a finding's severity: Deny is an
// error, Warn a warning, Audit an info; with several, the most severe wins.
func severityOf(actions []admissionv1.ValidationAction) (result.Severity, error) {
	if len(actions) == 0 {
		return "", errors.New("validationActions must not be empty")
	}
	sev := result.Info
	for _, a := range actions {
		switch a {
		case admissionv1.Deny:
			sev = result.MostSevere(sev, result.Error)
		case admissionv1.Warn:
			sev = result.MostSevere(sev, result.Warning)
		case admissionv1.Audit:
			sev = result.MostSevere(sev, result.Info)
		default:
			return "", fmt.Errorf("unknown validation action %q (want Deny, Warn or Audit)", a)
		}
	}
	return sev, nil
}

func newBinding(b admissionv1.ValidatingAdmissionPolicyBinding, _ []document) (*binding, error) {
	if b.Spec.PolicyName == "" {
		return nil, errors.New("spec.policyName is required")
	}
	sev, err := severityOf(b.Spec.ValidationActions)
	if err != nil {
		return nil, fmt.Errorf("spec.validationActions: %w", err)
	}
	return &binding{name: b.Name, severity: sev, match: b.Spec.MatchResources, paramRef: b.Spec.ParamRef}, nil
}

// implicitBinding binds a policy that no loaded binding names, with the
// actions of its annotation, or Deny.
func implicitBinding(p admissionv1.ValidatingAdmissionPolicy) (*binding, error) {
	actions := []admissionv1.ValidationAction{admissionv1.Deny}
	if a, ok := p.Annotations[ActionsAnnotation]; ok {
		actions = nil
		for _, s := range strings.Split(a, ",") {
			actions = append(actions, admissionv1.ValidationAction(strings.TrimSpace(s)))
		}
	}
	sev, err := severityOf(actions)
	if err != nil {
		return nil, fmt.Errorf("annotation %s: %w", ActionsAnnotation, err)
	}
	return &binding{name: p.Name, severity: sev}, nil
}

// Expression accessors, as the API server's admission plugins define them.
type validationExpr struct{ admissionv1.Validation }

func (v *validationExpr) GetExpression() string    { return v.Expression }
func (v *validationExpr) ReturnTypes() []*cel.Type { return []*cel.Type{cel.BoolType} }

type messageExpr struct{ expr string }

func (m *messageExpr) GetExpression() string    { return m.expr }
func (m *messageExpr) ReturnTypes() []*cel.Type { return []*cel.Type{cel.StringType} }

type variableExpr struct{ admissionv1.Variable }

func (v *variableExpr) GetExpression() string    { return v.Expression }
func (v *variableExpr) ReturnTypes() []*cel.Type { return []*cel.Type{cel.AnyType, cel.DynType} }
func (v *variableExpr) GetName() string          { return v.Name }

func compilePolicy(p admissionv1.ValidatingAdmissionPolicy, source string) (*compiled, error) {
	spec := p.Spec
	if spec.MatchConstraints == nil {
		return nil, errors.New("spec.matchConstraints is required")
	}
	if len(spec.Validations) == 0 {
		return nil, errors.New("spec.validations must not be empty")
	}
	fp := admissionv1.Fail
	if spec.FailurePolicy != nil {
		fp = *spec.FailurePolicy
	}
	opts := celplugin.OptionalVariableDeclarations{HasParams: spec.ParamKind != nil}
	cc, err := celplugin.NewCompositedCompiler(envSet())
	if err != nil {
		return nil, err
	}
	// Compile errors are reported now, with the field they come from, rather
	// than on every evaluation as the API server does.
	for i, v := range spec.Variables {
		r := cc.CompileAndStoreVariable(&variableExpr{v}, opts, environment.StoredExpressions)
		if r.Error != nil {
			return nil, fmt.Errorf("spec.variables[%d] (%s): %s", i, v.Name, r.Error.Detail)
		}
	}
	check := func(field string, acc celplugin.ExpressionAccessor) error {
		if r := cc.CompileCELExpression(acc, opts, environment.StoredExpressions); r.Error != nil {
			return fmt.Errorf("%s: %s", field, r.Error.Detail)
		}
		return nil
	}
	validations := make([]celplugin.ExpressionAccessor, len(spec.Validations))
	messages := make([]celplugin.ExpressionAccessor, len(spec.Validations))
	for i, v := range spec.Validations {
		validations[i] = &validationExpr{v}
		if err := check(fmt.Sprintf("spec.validations[%d].expression", i), validations[i]); err != nil {
			return nil, err
		}
		if v.MessageExpression != "" {
			messages[i] = &messageExpr{v.MessageExpression}
			if err := check(fmt.Sprintf("spec.validations[%d].messageExpression", i), messages[i]); err != nil {
				return nil, err
			}
		}
	}
	c := &compiled{
		name:          p.Name,
		source:        source,
		spec:          spec,
		failurePolicy: fp,
		rules:         spec.Validations,
		validations:   cc.CompileCondition(validations, opts, environment.StoredExpressions),
		messages:      cc.CompileCondition(messages, opts, environment.StoredExpressions),
	}
	if len(spec.MatchConditions) > 0 {
		conds := make([]celplugin.ExpressionAccessor, len(spec.MatchConditions))
		for i := range spec.MatchConditions {
			conds[i] = (*matchconditions.MatchCondition)(&spec.MatchConditions[i])
			if err := check(fmt.Sprintf("spec.matchConditions[%d].expression", i), conds[i]); err != nil {
				return nil, err
			}
		}
		c.matcher = matchconditions.NewMatcher(cc.CompileCondition(conds, opts, environment.StoredExpressions),
			&fp, "policy", "validate", p.Name)
	}
	return c, nil
}

// paramObjects returns the objects a binding passes as params for an object
// in namespace ns: nil (no params) when the policy takes none.
func (b *binding) paramObjects(ns string) ([]runtime.Object, bool) {
	if b.paramRef == nil {
		return []runtime.Object{nil}, true
	}
	want := b.paramRef.Namespace
	if want == "" {
		want = ns
	}
	var out []runtime.Object
	for _, p := range b.params {
		if p.GetNamespace() != want && p.GetNamespace() != "" {
			continue
		}
		if b.paramRef.Name != "" && p.GetName() != b.paramRef.Name {
			continue
		}
		if b.paramRef.Selector != nil && !labelsMatch(b.paramRef.Selector, p.GetLabels()) {
			continue
		}
		out = append(out, p)
	}
	return out, len(out) > 0
}

// UsesOldObject tells whether what the policies decide can depend on the
// previous state of a resource: an expression that names oldObject or the
// request, or a rule that tells CREATE from UPDATE. When none does, callers
// need not look the previous state up.
func (s *Set) UsesOldObject() bool {
	for _, p := range s.policies {
		var exprs []string
		for _, v := range p.spec.Validations {
			exprs = append(exprs, v.Expression, v.MessageExpression)
		}
		for _, c := range p.spec.MatchConditions {
			exprs = append(exprs, c.Expression)
		}
		for _, v := range p.spec.Variables {
			exprs = append(exprs, v.Expression)
		}
		for _, a := range p.spec.AuditAnnotations {
			exprs = append(exprs, a.ValueExpression)
		}
		for _, e := range exprs {
			if strings.Contains(e, "oldObject") || strings.Contains(e, "request") {
				return true
			}
		}
		if operationSensitive(p.spec.MatchConstraints) {
			return true
		}
		for _, b := range p.bindings {
			if operationSensitive(b.match) {
				return true
			}
		}
	}
	return false
}

// operationSensitive tells whether match rules apply to creations and
// updates differently.
func operationSensitive(m *admissionv1.MatchResources) bool {
	if m == nil {
		return false
	}
	for _, list := range [][]admissionv1.NamedRuleWithOperations{m.ResourceRules, m.ExcludeResourceRules} {
		for _, r := range list {
			var create, update bool
			for _, op := range r.Operations {
				switch op {
				case admissionv1.OperationAll:
					create, update = true, true
				case admissionv1.Create:
					create = true
				case admissionv1.Update:
					update = true
				}
			}
			if create != update {
				return true
			}
		}
	}
	return false
}
