package pkgcheck

import (
	"context"
	"sync"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/schema"
	"github.com/pkgserver/pkgserver/internal/validate"
)

// EngineCache builds validation engines for repositories' policies and
// keeps the last few, by the id of the policies' tree: a repository whose
// policies did not change reuses its engine, compiled CEL and all.
type EngineCache struct {
	// Base is the configuration every engine starts from: the default
	// policies, --policy files, --schemas, limits.
	Base    validate.Config
	Builtin *schema.Builtin

	mu      sync.Mutex
	engines map[string]*validate.Engine
	order   []string
}

// maxEngines bounds the engines kept.
const maxEngines = 16

// Engine returns the engine for the policies in a tree ("" for none).
func (c *EngineCache) Engine(ctx context.Context, repo *gitrepo.Repo, b *gitrepo.Batch, policiesTree string) (*validate.Engine, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.engines[policiesTree]; ok {
		return e, nil
	}
	if c.engines == nil {
		c.engines = map[string]*validate.Engine{}
	}
	cfg := c.Base
	if policiesTree != "" {
		fsys, err := repo.TreeFS(b, policiesTree)
		if err != nil {
			return nil, err
		}
		cfg.PolicyFS = append(cfg.PolicyFS[:len(cfg.PolicyFS):len(cfg.PolicyFS)], validate.PolicyFS{FS: fsys, Dir: ".", Name: PoliciesDir})
	}
	e, err := validate.Build(ctx, cfg, c.Builtin)
	if err != nil {
		return nil, err
	}
	if len(c.order) == maxEngines {
		delete(c.engines, c.order[0])
		c.order = c.order[1:]
	}
	c.engines[policiesTree] = e
	c.order = append(c.order, policiesTree)
	return e, nil
}
