// Package keymutex serializes work by key: one mutex per key, made when
// the key is first locked (a repository's id, say), kept for the process.
package keymutex

import "sync"

// Map holds a mutex per key. The zero value is ready to use.
type Map[K comparable] struct {
	mu sync.Mutex
	m  map[K]*sync.Mutex
}

// Lock locks the key's mutex and returns its unlock.
func (m *Map[K]) Lock(k K) func() {
	m.mu.Lock()
	if m.m == nil {
		m.m = map[K]*sync.Mutex{}
	}
	l, ok := m.m[k]
	if !ok {
		l = &sync.Mutex{}
		m.m[k] = l
	}
	m.mu.Unlock()
	l.Lock()
	return l.Unlock
}
