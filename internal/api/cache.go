package api

import (
	"sync"
)

// revisionCacheBytes bounds the memory of the revision cache: about 50,000
// revisions of the usual size.
const revisionCacheBytes = 32 << 20

// revisionCache keeps the JSON answers of package revisions read by name,
// for one generation of the store's revisions (store.RevisionGeneration):
// when revisions change, what it holds is dropped. Within its byte budget,
// a new entry replaces one picked at random.
type revisionCache struct {
	mu    sync.RWMutex
	gen   uint64
	m     map[string][]byte
	bytes int
	max   int
}

// entryCost is what an entry takes: its key, its JSON and the map's share.
func entryCost(key string, b []byte) int { return len(key) + cap(b) + 64 }

func newRevisionCache(max int) *revisionCache {
	return &revisionCache{m: map[string][]byte{}, max: max}
}

// get returns the JSON of a revision read in generation gen.
func (c *revisionCache) get(gen uint64, key string) ([]byte, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.gen != gen {
		return nil, false
	}
	b, ok := c.m[key]
	return b, ok
}

// put keeps the JSON of a revision read in generation gen; the caller
// checked that gen had not ended by the time the read was done.
func (c *revisionCache) put(gen uint64, key string, b []byte) {
	cost := entryCost(key, b)
	if cost > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case gen < c.gen:
		return // read in a generation that has ended
	case gen > c.gen:
		c.m, c.bytes, c.gen = map[string][]byte{}, 0, gen
	}
	if old, ok := c.m[key]; ok {
		c.bytes -= entryCost(key, old)
	}
	for c.bytes+cost > c.max {
		for k, v := range c.m { // map order is random: a random victim
			delete(c.m, k)
			c.bytes -= entryCost(k, v)
			break
		}
	}
	c.m[key] = b
	c.bytes += cost
}
