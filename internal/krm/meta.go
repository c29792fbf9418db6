package krm

import "github.com/pkgserver/pkgserver/internal/revision"

// KptfileMeta reads what a Kptfile says about its revision: labels and
// annotations (without the ones pkgserver or KRM tooling own), readiness
// gates and status conditions. A Kptfile that does not parse says nothing;
// the validation reports why.
func KptfileMeta(data []byte) revision.Meta {
	kf, _ := ParseKptfile(data)
	if kf == nil {
		return revision.Meta{}
	}
	var m revision.Meta
	for k, v := range kf.Metadata.Labels {
		if !revision.IsSystemLabel(k) {
			if m.Labels == nil {
				m.Labels = map[string]string{}
			}
			m.Labels[k] = v
		}
	}
	for k, v := range kf.Metadata.Annotations {
		if !revision.IsConfigAnnotation(k) {
			if m.Annotations == nil {
				m.Annotations = map[string]string{}
			}
			m.Annotations[k] = v
		}
	}
	if kf.Info != nil {
		for _, g := range kf.Info.ReadinessGates {
			if g.ConditionType != "" {
				m.ReadinessGates = append(m.ReadinessGates, g.ConditionType)
			}
		}
	}
	if kf.Status != nil {
		for _, c := range kf.Status.Conditions {
			if c.Type != "" && !revision.IsSystemLabel(c.Type) {
				m.Conditions = append(m.Conditions, revision.Condition{Type: c.Type, Status: c.Status, Reason: c.Reason, Message: c.Message})
			}
		}
	}
	return m
}
