package gitserver

import (
	"net"
	"slices"
	"testing"
)

// TestHandshakesEviction: the pool never holds more than its limits, and
// makes room by closing the oldest handshake of the address holding the
// most, so that a flood from a few addresses closes only its own
// connections.
func TestHandshakesEviction(t *testing.T) {
	type step struct {
		addr string
		// leave, if not 0, is 1 + the index of an earlier admission that
		// authenticates now, instead of a new admission.
		leave int
	}
	tests := []struct {
		name    string
		steps   []step
		evicted []int // indexes of the admissions closed, in order
	}{
		{"within the limits", []step{{addr: "a"}, {addr: "b"}, {addr: "a"}}, nil},
		{"an address at its limit loses its oldest", []step{{addr: "a"}, {addr: "a"}, {addr: "a"}}, []int{0}},
		{"a full pool loses the oldest of the largest address",
			[]step{{addr: "x"}, {addr: "a"}, {addr: "a"}, {addr: "b"}, {addr: "x"}}, []int{1}},
		{"the lone handshake of another address survives a flood",
			[]step{{addr: "a"}, {addr: "a"}, {addr: "b"}, {addr: "user"}, {addr: "b"}, {addr: "b"}, {addr: "a"}, {addr: "a"}},
			[]int{0, 2, 4, 1}},
		{"between equals, the oldest goes", []step{{addr: "a"}, {addr: "b"}, {addr: "c"}, {addr: "d"}, {addr: "e"}}, []int{0}},
		{"an authenticated connection leaves the pool and is never closed by it",
			[]step{{addr: "a"}, {addr: "a"}, {leave: 2}, {addr: "a"}, {addr: "a"}}, []int{0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newHandshakes(4, 2)
			var evicted []int
			var admitted []*handshake
			for i, st := range tc.steps {
				if st.addr == "" {
					if !p.leave(admitted[st.leave-1]) {
						t.Fatalf("step %d: the handshake was no longer in the pool", i)
					}
					admitted = append(admitted, nil)
					continue
				}
				admitted = append(admitted, p.admit(st.addr, func() { evicted = append(evicted, i) }))
				all, _ := p.count(st.addr)
				if all > 4 {
					t.Fatalf("step %d: %d handshakes in a pool of 4", i, all)
				}
				for addr := range p.byAddr {
					if _, n := p.count(addr); n > 2 {
						t.Fatalf("step %d: %d handshakes from %s, limit 2", i, n, addr)
					}
				}
			}
			// The closures recorded their own admission index.
			if !slices.Equal(evicted, tc.evicted) {
				t.Errorf("evicted %v, want %v", evicted, tc.evicted)
			}
			for _, i := range evicted {
				if p.leave(admitted[i]) {
					t.Errorf("evicted handshake %d could still leave the pool", i)
				}
			}
		})
	}
}

func TestSourceKey(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"192.0.2.7:22", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:22", "192.0.2.7"},
		{"[2001:db8:1:2:3:4:5:6]:22", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:4000", "2001:db8:1:2::/64"},
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
