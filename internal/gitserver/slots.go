package gitserver

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"time"
)

// errBusy and errKeyBusy are slots' refusals: every slot is taken, or
// every slot one key may hold.
var (
	errBusy    = errors.New("the server is busy")
	errKeyBusy = errors.New("the key holds all the slots it may")
)

// slots counts what is under way, in all and per key (an HTTP request per
// token, an SSH connection or git command per user), refusing rather than
// waiting: a client told to come back holds nothing meanwhile.
type slots struct {
	mu     sync.Mutex
	max    int
	perKey int
	n      int
	byKey  map[string]int
}

func newSlots(max, perKey int) *slots {
	return &slots{max: max, perKey: perKey, byKey: map[string]int{}}
}

// take takes a slot for key, or says why it cannot; release gives it back.
// The per-key limit is checked first, so that a client over its own share
// is told so even when the server is full.
func (s *slots) take(key string) (release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byKey[key] >= s.perKey {
		return nil, errKeyBusy
	}
	if s.n >= s.max {
		return nil, errBusy
	}
	s.n++
	s.byKey[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.n--
			if s.byKey[key]--; s.byKey[key] == 0 {
				delete(s.byKey, key)
			}
		})
	}, nil
}

// progressBody moves a request's read deadline forward at each read, so
// that a client sending nothing for idle is cut off however long the
// request may last in all (until end). Once the body is read, the deadline
// goes back to end: net/http reads on in the background to notice a
// client going away, and a deadline passing there would cancel the
// request. After any other error it stays passed, so that net/http does
// not wait for the rest of a broken body before answering.
type progressBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
	end  time.Time
}

func (b *progressBody) Read(p []byte) (int, error) {
	_ = b.rc.SetReadDeadline(earliest(time.Now().Add(b.idle), b.end))
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		_ = b.rc.SetReadDeadline(b.end)
	}
	return n, err
}

// progressWriter moves a response's write deadline forward at each write:
// a client that reads nothing for idle is cut off.
type progressWriter struct {
	http.ResponseWriter
	rc   *http.ResponseController
	idle time.Duration
	end  time.Time
}

func (w *progressWriter) Write(p []byte) (int, error) {
	_ = w.rc.SetWriteDeadline(earliest(time.Now().Add(w.idle), w.end))
	return w.ResponseWriter.Write(p)
}

// Unwrap gives http.ResponseController the writer underneath.
func (w *progressWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
