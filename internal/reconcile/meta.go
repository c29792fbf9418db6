package reconcile

import (
	"context"

	"github.com/pkgserver/pkgserver/internal/krm"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// KptfileMeta reads what a Kptfile says about its revision: labels and
// annotations (without the ones pkgserver or KRM tooling own), readiness
// gates and status conditions. A Kptfile that does not parse says nothing;
// the validation reports why.
func KptfileMeta(data []byte) revision.Meta {
	kf, _ := krm.ParseKptfile(data)
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

// treeMeta fills the meta of new package trees from their Kptfiles, read
// through the scanner's batch unless this pass holds them already. Trees
// sharing a Kptfile parse it once.
func (p *pass) treeMeta(read map[string]*packageTree, oversized map[string]bool) error {
	kptfiles := map[string][]*packageTree{}
	for _, pt := range read {
		for _, f := range pt.files {
			if f.Path == "Kptfile" && !oversized[f.BlobID] {
				kptfiles[f.BlobID] = append(kptfiles[f.BlobID], pt)
			}
		}
	}
	var toRead []string
	for id, trees := range kptfiles {
		if data, ok := p.readBlobs[id]; ok {
			m := metaOrNil(data)
			for _, pt := range trees {
				pt.meta = m
			}
		} else {
			toRead = append(toRead, id)
		}
	}
	return p.sc.readBlobs(toRead, func(id string, data []byte) error {
		m := metaOrNil(data)
		for _, pt := range kptfiles[id] {
			pt.meta = m
		}
		return nil
	})
}

// metaOrNil is KptfileMeta, nil when the Kptfile says nothing.
func metaOrNil(kptfile []byte) *revision.Meta {
	if m := KptfileMeta(kptfile); !m.Empty() {
		return &m
	}
	return nil
}

// FillTreeMeta reads the meta of package trees indexed before it was kept,
// from the Kptfiles the index holds, a batch at a time. The server runs it
// once at start; until it is done such revisions show no labels.
func FillTreeMeta(ctx context.Context, st store.Store) (int, error) {
	const batch = 500
	filled, after := 0, ""
	for {
		trees, err := st.TreesWithoutMeta(ctx, after, batch)
		if err != nil || len(trees) == 0 {
			return filled, err
		}
		after = trees[len(trees)-1].Tree
		metas := make(map[string]revision.Meta, len(trees))
		for _, t := range trees {
			metas[t.Tree] = KptfileMeta(t.Kptfile)
		}
		if err := st.SetTreeMeta(ctx, metas); err != nil {
			return filled, err
		}
		filled += len(trees)
	}
}
