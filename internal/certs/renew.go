package certs

import (
	"crypto/tls"
	"sync"
	"time"
)

// retryAfter spaces attempts to renew after one failed.
const retryAfter = time.Hour

// Renewing serves the serving certificate Ensure keeps, and calls Ensure
// again when the one served nears its expiry: a server that runs for a year
// keeps serving a valid certificate, signed by the CA its clients trust.
type Renewing struct {
	opts Options
	// Renewed, if set, is told of each renewal, or of its failure.
	Renewed func(*Result, error)

	mu      sync.Mutex
	cur     *Result
	nextTry time.Time
}

// NewRenewing returns what Ensure(o) returns, and a Renewing that starts
// from it.
func NewRenewing(o Options) (*Renewing, *Result, error) {
	r, err := Ensure(o)
	if err != nil {
		return nil, nil, err
	}
	return &Renewing{opts: o, cur: r}, r, nil
}

// GetCertificate is a tls.Config's GetCertificate: the current serving
// certificate, renewed first if it is within RenewBefore of its expiry. A
// failed renewal keeps the certificate served and is tried again an hour
// later.
func (r *Renewing) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	now := time.Now()
	if r.opts.Now != nil {
		now = r.opts.Now()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur.Certificate.Leaf.NotAfter.Sub(now) < RenewBefore && !now.Before(r.nextTry) {
		res, err := Ensure(r.opts)
		if err != nil {
			r.nextTry = now.Add(retryAfter)
		} else {
			r.cur = res
		}
		if r.Renewed != nil {
			r.Renewed(res, err)
		}
	}
	return &r.cur.Certificate, nil
}
