package gitserver

import (
	"net"
	"slices"
	"testing"
	"time"
)

// TestHandshakesEviction: the pool never holds more than max handshakes;
// while it has room it admits every connection, however many come from one
// address; once full it makes room as handshakes' doc says, never closing a
// handshake younger than the grace period within its address's share.
func TestHandshakesEviction(t *testing.T) {
	type step struct {
		addr string
		// leave, if not 0, is 1 + the index of an earlier admission that
		// authenticates now, instead of a new admission.
		leave int
		// wait advances the clock before the step.
		wait time.Duration
	}
	const grace = 2 * time.Second
	later := grace + time.Millisecond
	tests := []struct {
		name    string
		steps   []step
		evicted []int // indexes of the admissions closed, in order
		refused []int // indexes of the admissions refused
	}{
		{"within the limits", []step{{addr: "a"}, {addr: "b"}, {addr: "a"}}, nil, nil},
		{"one address fills a pool with room: no one is closed",
			[]step{{addr: "nat"}, {addr: "nat"}, {addr: "nat"}, {addr: "nat"}}, nil, nil},
		{"in a full pool of young handshakes, an address at its limit is refused",
			[]step{{addr: "nat"}, {addr: "nat"}, {addr: "nat"}, {addr: "nat"}, {addr: "nat"}}, nil, []int{4}},
		{"a newcomer closes the newest beyond another address's share, however young",
			[]step{{addr: "nat"}, {addr: "nat"}, {addr: "nat"}, {addr: "nat"}, {addr: "b"}}, []int{3}, nil},
		{"a full pool of young handshakes within their shares refuses the newcomer",
			[]step{{addr: "a"}, {addr: "a"}, {addr: "b"}, {addr: "b"}, {addr: "c"}}, nil, []int{4}},
		{"a flood renewing its connections faster than the grace period keeps no one out, and an old lone handshake survives it",
			[]step{{addr: "user"}, {addr: "x", wait: later}, {addr: "x"}, {addr: "x"}, {addr: "x"}, {addr: "y"}}, []int{3}, []int{4}},
		{"a full pool closes the newcomer's own oldest once past the grace period",
			[]step{{addr: "a"}, {addr: "a"}, {addr: "b"}, {addr: "b"}, {addr: "a", wait: later}}, []int{0}, nil},
		{"a full pool closes the oldest of the largest address",
			[]step{{addr: "x"}, {addr: "a"}, {addr: "a"}, {addr: "a"}, {addr: "b", wait: later}}, []int{1}, nil},
		{"a young address is skipped for an older one",
			[]step{{addr: "x"}, {addr: "y", wait: later}, {addr: "a", wait: time.Second}, {addr: "a"}, {addr: "b", wait: time.Second}},
			[]int{0}, nil},
		{"the lone handshake of another address survives a flood",
			[]step{{addr: "a"}, {addr: "a"}, {addr: "user"}, {addr: "b"},
				{addr: "b", wait: later}, {addr: "b"}, {addr: "a", wait: later}, {addr: "a"}},
			[]int{0, 3, 4, 1}, nil},
		{"between equals, the oldest goes",
			[]step{{addr: "a"}, {addr: "b", wait: time.Millisecond}, {addr: "c"}, {addr: "d"}, {addr: "e", wait: later}}, []int{0}, nil},
		{"an authenticated connection leaves the pool and is never closed by it",
			[]step{{addr: "a"}, {addr: "a"}, {addr: "a"}, {leave: 2}, {addr: "a"}, {addr: "a"}, {addr: "a", wait: later}}, []int{0}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Unix(1_700_000_000, 0)
			p := newHandshakes(4, 2, grace, func() time.Time { return now })
			var evicted, refused []int
			var admitted []*handshake
			for i, st := range tc.steps {
				now = now.Add(st.wait)
				if st.addr == "" {
					if !p.leave(admitted[st.leave-1]) {
						t.Fatalf("step %d: the handshake was no longer in the pool", i)
					}
					admitted = append(admitted, nil)
					continue
				}
				h := p.admit(st.addr, func() { evicted = append(evicted, i) })
				if h == nil {
					refused = append(refused, i)
				}
				admitted = append(admitted, h)
				if all, _ := p.count(st.addr); all > 4 {
					t.Fatalf("step %d: %d handshakes in a pool of 4", i, all)
				}
			}
			// The closures recorded their own admission index.
			if !slices.Equal(evicted, tc.evicted) {
				t.Errorf("evicted %v, want %v", evicted, tc.evicted)
			}
			if !slices.Equal(refused, tc.refused) {
				t.Errorf("refused %v, want %v", refused, tc.refused)
			}
			for _, i := range evicted {
				if p.leave(admitted[i]) {
					t.Errorf("evicted handshake %d could still leave the pool", i)
				}
			}
		})
	}
}

// TestHandshakesNATBurst: a farm behind one address opens many more
// connections at once than the per-address limit; while the pool has room,
// none of them is closed before it authenticates.
func TestHandshakesNATBurst(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	p := newHandshakes(DefaultMaxHandshakes, DefaultHandshakesPerAddress, handshakeGrace, func() time.Time { return now })
	var closed int
	var hs []*handshake
	for range 3 * DefaultHandshakesPerAddress {
		now = now.Add(50 * time.Millisecond)
		h := p.admit("198.51.100.1", func() { closed++ })
		if h == nil {
			t.Fatal("a connection was refused while the pool had room")
		}
		hs = append(hs, h)
	}
	if closed != 0 {
		t.Fatalf("%d handshakes of one address closed while the pool had room", closed)
	}
	for i, h := range hs {
		if !p.leave(h) {
			t.Errorf("handshake %d was closed before it authenticated", i)
		}
	}
}

func TestSourceKey(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"192.0.2.7:22", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:22", "192.0.2.7"},
		{"[2001:db8:1:2:3:4:5:6]:22", "2001:db8:1::/56"},
		{"[2001:db8:1:ff:ffff::1]:4000", "2001:db8:1::/56"},
		{"[2001:db8:1:100::1]:4000", "2001:db8:1:100::/56"},
	} {
		addr, err := net.ResolveTCPAddr("tcp", tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := sourceKey(addr); got != tc.want {
			t.Errorf("sourceKey(%s) = %s, want %s", tc.addr, got, tc.want)
		}
	}
}
