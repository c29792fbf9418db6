package gitserver

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// handshakes holds the SSH connections that have not authenticated yet, so
// that clients who never log in cannot take the slots of those who do. At
// most max of them are open at once.
//
// While the pool has room, every connection is admitted, however many come
// from one address: a CI farm or an office behind one NAT opens many at
// once, and each takes a round trip or a person's keystrokes to
// authenticate. An address is an IPv4 address or an IPv6 /56 (what one
// site is commonly given), so that a flood from one site counts as one
// address however many /64s it draws from.
//
// Only a full pool makes room, and the per-address limit applies only
// then. A handshake younger than grace is safe while its address holds no
// more than perAddr: a client that just connected has had no time to
// authenticate. Older ones may be closed, since the server cannot tell a
// slow client (one typing a key's passphrase) from an attacker that never
// means to authenticate. So, in a full pool:
//
//   - a newcomer whose address holds perAddr or more closes that address's
//     oldest handshake if it is older than grace, and is refused
//     otherwise: an address only ever displaces its own connections;
//   - any other newcomer closes a handshake of the address holding the
//     most: its oldest if older than grace, else, if that address holds
//     more than perAddr, its newest (a connection beyond its share, in a
//     pool others are waiting for); failing that, the oldest handshake
//     older than grace of the address holding the most of those; failing
//     that, the newcomer is refused.
//
// Whoever floods from a few addresses thereby only ever closes its own
// connections, and cannot keep others out by renewing its connections
// faster than grace: those beyond its share are closed for newcomers
// however young. A client with one handshake under way loses it only to a
// flood from more distinct addresses than the pool has slots, and never in
// its first grace.
type handshakes struct {
	mu      sync.Mutex
	max     int
	perAddr int
	grace   time.Duration
	now     func() time.Time
	n       int
	byAddr  map[string][]*handshake // oldest first
}

// handshake is one connection in the pool.
type handshake struct {
	addr  string
	since time.Time
	close func()
	// in is true while the connection is in the pool: neither
	// authenticated, evicted nor gone.
	in bool
}

func newHandshakes(max, perAddr int, grace time.Duration, now func() time.Time) *handshakes {
	return &handshakes{max: max, perAddr: perAddr, grace: grace, now: now, byAddr: map[string][]*handshake{}}
}

// sourceKey is the address a connection is counted under: an IPv4 address,
// or the /56 of an IPv6 address.
func sourceKey(addr net.Addr) string {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return addr.String()
	}
	ip := ap.Addr().Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(56)
		return p.String()
	}
	return ip.String()
}

// admit adds a connection from addr, closed by close, making room for it by
// evicting an older handshake if the pool is full. It returns nil if the
// pool is full of handshakes too young to evict: the newcomer is refused.
// The evicted connection's close is called after the pool's lock is
// released.
func (p *handshakes) admit(addr string, close func()) *handshake {
	p.mu.Lock()
	now := p.now()
	var victim *handshake
	if p.n >= p.max {
		if victim = p.victim(addr, now); victim == nil {
			p.mu.Unlock()
			return nil
		}
		p.remove(victim)
	}
	h := &handshake{addr: addr, since: now, close: close, in: true}
	p.byAddr[addr] = append(p.byAddr[addr], h)
	p.n++
	p.mu.Unlock()
	if victim != nil {
		victim.close()
	}
	return h
}

// victim chooses the handshake a newcomer from addr closes in a full pool,
// nil if it is refused (see handshakes).
func (p *handshakes) victim(addr string, now time.Time) *handshake {
	old := func(h *handshake) bool { return now.Sub(h.since) >= p.grace }
	if own := p.byAddr[addr]; len(own) >= p.perAddr {
		if old(own[0]) {
			return own[0]
		}
		return nil
	}
	if l := p.largest(now, false); l != nil {
		if old(l) {
			return l
		}
		if hs := p.byAddr[l.addr]; len(hs) > p.perAddr {
			return hs[len(hs)-1]
		}
	}
	return p.largest(now, true)
}

// largest returns the oldest handshake of the address holding the most
// (with pastGrace, among addresses whose oldest is older than grace);
// between addresses holding as many, the one whose oldest is oldest. It
// returns nil if there is none.
func (p *handshakes) largest(now time.Time, pastGrace bool) *handshake {
	var best *handshake
	most := 0
	for _, hs := range p.byAddr {
		if pastGrace && now.Sub(hs[0].since) < p.grace {
			continue
		}
		if len(hs) > most || (len(hs) == most && hs[0].since.Before(best.since)) {
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
