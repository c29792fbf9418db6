package sqlstore

import (
	"context"
	"sync/atomic"
	"time"
)

// The generation of package revisions ends whenever revisions change: at
// once for changes made through this Store, and within externalPoll for
// changes made by another process on the same database (`pkgserver
// reindex` beside a server, another replica), which a poller notices in the
// change log. Readers cache what they read for a generation.
const externalPoll = 250 * time.Millisecond

type generation struct {
	n atomic.Uint64
	// rv is the highest resource version of the database RevisionGeneration
	// has seen (readOwnWrites).
	rv   atomic.Int64
	stop chan struct{}
	done chan struct{}
}

// revisionsChanged ends the generation: called after a commit that changed
// revisions.
func (s *Store) revisionsChanged() { s.gen.n.Add(1) }

// RevisionGeneration is the current generation of package revisions. Where
// other processes write (readOwnWrites), it first reads the database's
// resource version and ends the generation when it grew: a revision
// another replica changed before this call is never answered from a cache
// made before, though that replica's notification may arrive milliseconds
// later. One small query per call is the price.
func (s *Store) RevisionGeneration() uint64 {
	if s.d.readOwnWrites {
		s.catchUpGeneration()
	}
	return s.gen.n.Load()
}

// KnownRevisionGeneration is the generation without asking the database.
func (s *Store) KnownRevisionGeneration() uint64 { return s.gen.n.Load() }

func (s *Store) catchUpGeneration() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var rv int64
	if err := s.db.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'resource_version'`).Scan(&rv); err != nil {
		// Unknown: nothing cached may be trusted.
		s.gen.n.Add(1)
		return
	}
	for {
		seen := s.gen.rv.Load()
		if rv <= seen {
			return
		}
		if s.gen.rv.CompareAndSwap(seen, rv) {
			s.gen.n.Add(1)
			return
		}
	}
}

// pollExternal ends the generation, and wakes watchers, when the change
// log shows changes this Store did not make.
func (s *Store) pollExternal() {
	defer close(s.gen.done)
	var last [2]int64
	read := func() ([2]int64, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var v [2]int64
		err := s.db.QueryRowContext(ctx, s.q(`SELECT (SELECT COALESCE(MAX(resource_version), 0) FROM events), `+
			`(SELECT value FROM counters WHERE name = 'events_compacted')`)).Scan(&v[0], &v[1])
		return v, err
	}
	last, _ = read()
	t := time.NewTicker(externalPoll)
	defer t.Stop()
	for {
		select {
		case <-s.gen.stop:
			return
		case <-t.C:
			v, err := read()
			if err != nil || v == last {
				continue
			}
			last = v
			s.revisionsChanged()
			s.changes.notify()
		}
	}
}
