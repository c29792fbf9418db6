package gitserver

import (
	"net"
	"net/netip"
	"sync"
)

// handshakes holds the SSH connections that have not authenticated yet, so
// that clients who never log in cannot take the slots of those who do. At
// most max of them are open at once, and at most perAddr from one source
// address (an IPv6 /64 counts as one address: it is what one host gets).
//
// A new connection is never refused for want of room: the server cannot
// tell a slow client from a genuine one before it authenticates, and a
// genuine one authenticates in milliseconds. Instead the pool makes room by
// closing the oldest handshake of the address that holds the most, its own
// address first when that one is at its limit. Whoever floods from a few
// addresses thereby only ever closes its own connections; a client with one
// handshake under way loses it only to a flood from more distinct
// addresses than the pool has slots.
type handshakes struct {
	mu      sync.Mutex
	max     int
	perAddr int
	n       int
	seq     uint64
	byAddr  map[string][]*handshake // oldest first
}

// handshake is one connection in the pool.
type handshake struct {
	addr  string
	seq   uint64
	close func()
	// in is true while the connection is in the pool: neither
	// authenticated, evicted nor gone.
	in bool
}

func newHandshakes(max, perAddr int) *handshakes {
	return &handshakes{max: max, perAddr: perAddr, byAddr: map[string][]*handshake{}}
}

// sourceKey is the address a connection is counted under.
func sourceKey(addr net.Addr) string {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return addr.String()
	}
	ip := ap.Addr().Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// admit adds a connection from addr, closed by close, and makes room for it
// by evicting another if needed. The evicted connection's close is called
// after the pool's lock is released.
func (p *handshakes) admit(addr string, close func()) *handshake {
	p.mu.Lock()
	var victim *handshake
	switch {
	case len(p.byAddr[addr]) >= p.perAddr:
		victim = p.byAddr[addr][0]
	case p.n >= p.max:
		victim = p.largest()
	}
	if victim != nil {
		p.remove(victim)
	}
	p.seq++
	h := &handshake{addr: addr, seq: p.seq, close: close, in: true}
	p.byAddr[addr] = append(p.byAddr[addr], h)
	p.n++
	p.mu.Unlock()
	if victim != nil {
		victim.close()
	}
	return h
}

// largest returns the oldest handshake of the address holding the most;
// between addresses holding as many, the one whose oldest is oldest.
func (p *handshakes) largest() *handshake {
	var best *handshake
	most := 0
	for _, hs := range p.byAddr {
		if len(hs) > most || (len(hs) == most && hs[0].seq < best.seq) {
			best, most = hs[0], len(hs)
		}
	}
	return best
}

func (p *handshakes) remove(h *handshake) {
	hs := p.byAddr[h.addr]
	for i, x := range hs {
		if x == h {
			hs = append(hs[:i:i], hs[i+1:]...)
			break
		}
	}
	if len(hs) == 0 {
		delete(p.byAddr, h.addr)
	} else {
		p.byAddr[h.addr] = hs
	}
	h.in = false
	p.n--
}

// leave takes a connection out of the pool, because it authenticated or
// is gone. It reports whether the connection was still in it (false: it
// was evicted and is being closed).
func (p *handshakes) leave(h *handshake) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !h.in {
		return false
	}
	p.remove(h)
	return true
}

// count returns the handshakes under way, in all and from addr.
func (p *handshakes) count(addr string) (all, fromAddr int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n, len(p.byAddr[addr])
}
