package render

import (
	"context"
	"fmt"
	"path"
	"path/filepath"

	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// memRoot is where RenderFiles lays a package out in its in-memory file
// system.
const memRoot = "/pkg"

// RenderFiles renders a package given as its files, slash-separated paths
// relative to the package mapped to their bytes, as it is held in git. The
// files are not modified: the outcome's Changed, Deleted and Contents say
// what rendering writes, as with DryRun (which is implied).
func RenderFiles(ctx context.Context, files map[string][]byte, opts Options) (*Outcome, error) {
	fsys := filesys.MakeFsInMemory()
	for name, data := range files {
		if path.IsAbs(name) || !filepath.IsLocal(filepath.FromSlash(name)) {
			return &Outcome{Results: failedList()}, fmt.Errorf("file %q: not a path inside the package", name)
		}
		p := filepath.Join(memRoot, filepath.FromSlash(name))
		if err := fsys.MkdirAll(filepath.Dir(p)); err != nil {
			return &Outcome{Results: failedList()}, err
		}
		if err := fsys.WriteFile(p, data); err != nil {
			return &Outcome{Results: failedList()}, err
		}
	}
	opts.DryRun = true
	return render(ctx, fsys, memRoot, opts)
}

func failedList() *ResultList {
	l := NewResultList()
	l.ExitCode = 1
	return l
}
