package reconcile

import (
	"context"

	"github.com/pkgserver/pkgserver/internal/krm"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

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

// metaOrNil is krm.KptfileMeta, nil when the Kptfile says nothing.
func metaOrNil(kptfile []byte) *revision.Meta {
	if m := krm.KptfileMeta(kptfile); !m.Empty() {
		return &m
	}
	return nil
}

// FillTreeMeta reads the meta of package trees indexed before it was kept,
// from the Kptfiles the index holds, a batch at a time. The server runs it
// once at start; until it is done such revisions show no labels.
func FillTreeMeta(ctx context.Context, st store.IndexWriter) (int, error) {
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
			metas[t.Tree] = krm.KptfileMeta(t.Kptfile)
		}
		if err := st.SetTreeMeta(ctx, metas); err != nil {
			return filled, err
		}
		filled += len(trees)
	}
}
