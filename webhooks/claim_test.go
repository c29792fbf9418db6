package webhooks

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// exclusiveSyncer fails the test if two processors sync one repository at
// once, and counts the syncs.
type exclusiveSyncer struct {
	t       *testing.T
	mu      sync.Mutex
	running map[string]bool
	syncs   int
}

func (s *exclusiveSyncer) SyncNow(_ context.Context, ns, name string) error {
	s.mu.Lock()
	if s.running[ns+"/"+name] {
		s.t.Errorf("%s/%s synced by two processors at once", ns, name)
	}
	s.running[ns+"/"+name] = true
	s.syncs++
	s.mu.Unlock()
	time.Sleep(5 * time.Millisecond)
	s.mu.Lock()
	delete(s.running, ns+"/"+name)
	s.mu.Unlock()
	return nil
}

func (s *exclusiveSyncer) Apply(context.Context, string, string, []revision.RefUpdate) error {
	return nil
}

// TestProcessorsShareDeliveries: two processors (replicas) draining one
// index at once process every delivery once between them, and never one
// repository's deliveries at the same time.
func TestProcessorsShareDeliveries(t *testing.T) {
	syncer := &exclusiveSyncer{t: t, running: map[string]bool{}}
	a, logsA := newLoggedProcessor(t, syncer)
	logsB := &logBuffer{}
	b := NewProcessor(a.Store, syncer, slog.New(slog.NewJSONHandler(logsB, nil)))
	const n = 400
	for i := range n {
		addDeliveryTo(t, a.Store, fmt.Sprintf("r%d", i%5), fmt.Sprintf("d-%d", i))
	}
	var wg sync.WaitGroup
	for _, p := range []*Processor{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				p.drain(context.Background())
			}
		}()
	}
	wg.Wait()
	pending, err := a.Store.PendingDeliveries(context.Background(), 0, 10)
	if err != nil || len(pending) != 0 {
		t.Fatalf("pending after both drained: %d, %v", len(pending), err)
	}
	for i := range n {
		d, err := a.Store.GetDelivery(context.Background(), GitHub, fmt.Sprintf("d-%d", i))
		if err != nil || !d.Done || d.Attempts != 1 {
			t.Fatalf("delivery d-%d: %+v, %v; want processed once", i, d, err)
		}
	}
	processed := func(l *logBuffer) int {
		l.mu.Lock()
		defer l.mu.Unlock()
		total := 0
		for line := range strings.SplitSeq(strings.TrimSpace(l.buf.String()), "\n") {
			var r map[string]any
			if json.Unmarshal([]byte(line), &r) == nil && r["msg"] == "webhook deliveries processed" {
				total += int(r["deliveries"].(float64))
			}
		}
		return total
	}
	if got := processed(logsA) + processed(logsB); got != n {
		t.Errorf("the processors logged %d deliveries processed, want %d", got, n)
	}
	if a.Owner == b.Owner {
		t.Errorf("two processors with one owner id %q", a.Owner)
	}
}

func addDeliveryTo(t *testing.T, st store.Deliveries, repo, id string) {
	t.Helper()
	added, err := st.AddDelivery(context.Background(), &store.Delivery{Forge: GitHub, DeliveryID: id, Namespace: "default", Repository: repo,
		Event: "push", Payload: []byte(`{"ref":"refs/heads/main","after":"1111111111111111111111111111111111111111"}`), ReceivedAt: time.Now()})
	if err != nil || !added {
		t.Fatalf("store delivery %s: %v %v", id, added, err)
	}
}
