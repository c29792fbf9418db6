package keymutex

import (
	"sync"
	"testing"
	"time"
)

func TestOneKeyIsSerialized(t *testing.T) {
	var m Map[string]
	var mu sync.Mutex
	inside, most := 0, 0
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			unlock := m.Lock("repo")
			defer unlock()
			mu.Lock()
			inside++
			most = max(most, inside)
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			inside--
			mu.Unlock()
		})
	}
	wg.Wait()
	if most != 1 {
		t.Fatalf("%d holders of one key at once, want 1", most)
	}
}

func TestOtherKeysDoNotWait(t *testing.T) {
	var m Map[int]
	unlock := m.Lock(1)
	defer unlock()
	done := make(chan struct{})
	go func() {
		m.Lock(2)()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("locking key 2 waited for key 1")
	}
}
