package webhooks

import (
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-github/v75/github"
	"k8s.io/apimachinery/pkg/util/validation"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/store"
)

// Prefix is where webhooks are received: <Prefix><forge>/<ns>/<repo>.
const Prefix = "/webhooks/"

// Limits of a delivery.
const (
	// MaxPayloadBytes is the largest body accepted: GitHub caps payloads
	// at 25 MB.
	MaxPayloadBytes = 25 << 20
	// BodyIdleTimeout is how long a body may go without a byte arriving,
	// its first byte counted from the request's start: forges send their
	// bodies at once.
	BodyIdleTimeout = 5 * time.Second
	// MinBodyRate is the rate, in bytes per second, at which a body must
	// go on arriving: its deadline, BodyIdleTimeout after the request's
	// start, moves 1/MinBodyRate s later with each byte that arrives, at
	// most to BodyIdleTimeout after that byte. A body trickled a byte at
	// a time is cut off after about BodyIdleTimeout; a large one on a slow
	// link is read as long as it keeps up.
	MinBodyRate = 64 << 10
	// MaxBodyTime bounds reading a body in all, from the request's start:
	// the API server's read timeout.
	MaxBodyTime = 30 * time.Second
	// MaxBufferedBytes bounds the memory held by bodies being received at
	// once, and MaxRepositoryBufferedBytes that of one repository's. A body
	// holds what has arrived of it (at most about twice that, as its
	// buffer grows by doubling from firstBodyBytes), not what it
	// announces, and a delivery is refused only when bodies that did
	// arrive fill the budget.
	MaxBufferedBytes           = 256 << 20
	MaxRepositoryBufferedBytes = 2 * MaxPayloadBytes
	// MaxRepositoryBodies bounds the bodies being read at once for one
	// repository name. A body beyond it takes the place of the slowest:
	// the one with the lowest average rate since its request started,
	// credited with one second at MinBodyRate so that a request just
	// started is not the first to go. A genuine delivery, sent at once, is
	// never the slowest for long; bodies trickled a byte at a time are.
	MaxRepositoryBodies = 64
	// firstBodyBytes is the buffer a body is first read into.
	firstBodyBytes = 1 << 10
	// maxDeliveryID bounds a delivery id header.
	maxDeliveryID = 200
)

// SecretFunc returns the webhook secret a repository names.
type SecretFunc func(ctx context.Context, namespace, name string) (string, error)

// Receiver verifies and stores deliveries.
type Receiver struct {
	Store  ReceiverStore
	Secret SecretFunc
	Log    *slog.Logger
	// Stored is called after a delivery is stored, to wake processing.
	Stored func()

	batch   batcher
	budget  bodyBudget
	secrets secretCache
}

// bodyBudget counts the bytes of bodies held, in all and per repository
// name, and the bodies being read per repository name.
type bodyBudget struct {
	mu     sync.Mutex
	total  int64
	byRepo map[string]*repoBodies
}

// repoBodies is what one repository name's bodies hold.
type repoBodies struct {
	held    int64
	reading map[*bodyRead]struct{}
}

// bodyRead is one body being read.
type bodyRead struct {
	start   time.Time
	arrived atomic.Int64

	mu  sync.Mutex
	cut bool
	// setDeadline sets the read deadline of the request's connection.
	setDeadline func(time.Time) error
}

// extend moves the read deadline to d, unless the read was cut off.
func (rd *bodyRead) extend(d time.Time) {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if !rd.cut {
		_ = rd.setDeadline(d)
	}
}

// cutOff ends the read: its pending and next reads fail at once.
func (rd *bodyRead) cutOff() {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	rd.cut = true
	_ = rd.setDeadline(time.Now())
}

func (rd *bodyRead) wasCut() bool {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	return rd.cut
}

// score is rd's average rate since its start, credited with one second
// at MinBodyRate.
func (rd *bodyRead) score(now time.Time) float64 {
	return float64(rd.arrived.Load()+MinBodyRate) / (now.Sub(rd.start).Seconds() + 1)
}

// enter counts rd among repo's bodies being read; when they are
// MaxRepositoryBodies already, the slowest of them is cut off.
func (b *bodyBudget) enter(repo string, rd *bodyRead) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.byRepo == nil {
		b.byRepo = map[string]*repoBodies{}
	}
	e := b.byRepo[repo]
	if e == nil {
		e = &repoBodies{reading: map[*bodyRead]struct{}{}}
		b.byRepo[repo] = e
	}
	if len(e.reading) >= MaxRepositoryBodies {
		now := time.Now()
		var slowest *bodyRead
		var low float64
		for o := range e.reading {
			if s := o.score(now); slowest == nil || s < low {
				slowest, low = o, s
			}
		}
		delete(e.reading, slowest)
		slowest.cutOff()
	}
	e.reading[rd] = struct{}{}
}

// leave takes rd out of repo's bodies being read; after it, rd is not
// cut off any more.
func (b *bodyBudget) leave(repo string, rd *bodyRead) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e := b.byRepo[repo]; e != nil {
		delete(e.reading, rd)
		b.forget(repo, e)
	}
}

// take reserves n bytes for repo, one of whose bodies is being read, if
// both budgets have room.
func (b *bodyBudget) take(repo string, n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.byRepo[repo]
	if e == nil || b.total+n > MaxBufferedBytes || e.held+n > MaxRepositoryBufferedBytes {
		return false
	}
	b.total += n
	e.held += n
	return true
}

// give returns n bytes of repo's.
func (b *bodyBudget) give(repo string, n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total -= n
	if e := b.byRepo[repo]; e != nil {
		e.held -= n
		b.forget(repo, e)
	}
}

// forget drops repo's entry once it holds nothing.
func (b *bodyBudget) forget(repo string, e *repoBodies) {
	if e.held <= 0 && len(e.reading) == 0 {
		delete(b.byRepo, repo)
	}
}

// errBusy is readBody's refusal when the bodies held fill the budget, or
// when a body was cut off to make room for another.
var errBusy = errors.New("too many deliveries are being received at once")

// nextDeadline is a body's deadline, prev until then, once n more bytes
// of it arrived at now: each byte moves it 1/MinBodyRate s later, never
// more than BodyIdleTimeout past now (what arrived in bulk buys no stall
// longer than that), nor MaxBodyTime past the request's start.
func nextDeadline(prev, now, start time.Time, n int) time.Time {
	d := prev.Add(time.Duration(float64(n) / MinBodyRate * float64(time.Second)))
	if idle := now.Add(BodyIdleTimeout); idle.Before(d) {
		d = idle
	}
	if m := start.Add(MaxBodyTime); m.Before(d) {
		d = m
	}
	return d
}

// readBody reads a delivery's body, whose request started at start,
// within its deadline (BodyIdleTimeout from the start, then moved by
// nextDeadline as bytes arrive) and the budget of repo, whose bytes
// it holds until release is called.
func (rc *Receiver) readBody(w http.ResponseWriter, r *http.Request, repo string, start time.Time) (body []byte, release func(), err error) {
	ctl := http.NewResponseController(w)
	rd := &bodyRead{start: start, setDeadline: ctl.SetReadDeadline}
	deadline := start.Add(BodyIdleTimeout)
	rd.extend(deadline)
	rc.budget.enter(repo, rd)
	var held int64
	release = func() { rc.budget.give(repo, held) }
	defer func() {
		rc.budget.leave(repo, rd)
		// The deadline is lifted once the body is read (and the read can
		// no longer be cut off): net/http reads on in the background, and
		// a deadline passing there would cancel the request while the
		// delivery is stored.
		_ = ctl.SetReadDeadline(time.Time{})
	}()
	limit := int64(MaxPayloadBytes)
	if r.ContentLength >= 0 {
		limit = min(limit, r.ContentLength)
	}
	for {
		if len(body) == cap(body) && int64(cap(body)) < limit {
			// Grown by doubling, the growth taken from the budget
			// first: what is held is what is allocated, at most about
			// twice what arrived.
			size := int(min(int64(max(2*cap(body), firstBodyBytes)), limit))
			if !rc.budget.take(repo, int64(size-cap(body))) {
				return nil, release, errBusy
			}
			held += int64(size - cap(body))
			body = append(make([]byte, 0, size), body...)
		}
		var n int
		var rerr error
		if len(body) < cap(body) {
			n, rerr = r.Body.Read(body[len(body):cap(body)])
			body = body[:len(body)+n]
		} else {
			// The buffer is at its limit: one more byte tells the end
			// of the body from one too large.
			var one [1]byte
			if n, rerr = r.Body.Read(one[:]); n > 0 {
				return nil, release, &http.MaxBytesError{Limit: MaxPayloadBytes}
			}
		}
		if n > 0 {
			rd.arrived.Add(int64(n))
			deadline = nextDeadline(deadline, time.Now(), start, n)
			rd.extend(deadline)
		}
		if rerr == io.EOF {
			return body, release, nil
		}
		if rerr != nil {
			if rd.wasCut() {
				return nil, release, errBusy
			}
			return nil, release, rerr
		}
	}
}

// Handler serves the webhook URLs.
func (rc *Receiver) Handler() http.Handler {
	return http.HandlerFunc(rc.serve)
}

func answer(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

func (rc *Receiver) serve(w http.ResponseWriter, r *http.Request) {
	// The request's start, from which its body's deadlines count: the
	// lookups below are part of the time a body has.
	start := time.Now()
	in, ok := parseIncoming(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	secret, cached, err := rc.cachedSecretOf(ctx, in, start)
	if err != nil {
		rc.Log.Error("webhook: read repository", "err", err)
		answer(w, http.StatusInternalServerError, "internal error")
		return
	}
	// The body is read, under the same deadlines and limits, whether or
	// not the repository could take it: how long an answer takes, and
	// whether it is a 408, a 413 or a 503, tells nothing of the name.
	body, release, err := rc.readBody(w, r, in.ns+"/"+in.name, start)
	defer release()
	if err != nil {
		answerReadError(w, err)
		return
	}
	verified := in.verify(r, secret, body)
	if !verified && cached {
		// The secret may have changed since it was cached.
		rc.secrets.drop(in.forge + "/" + in.ns + "/" + in.name)
		if secret, _, err = rc.cachedSecretOf(ctx, in, time.Now()); err != nil {
			rc.Log.Error("webhook: read repository", "err", err)
			answer(w, http.StatusInternalServerError, "internal error")
			return
		}
		verified = in.verify(r, secret, body)
	}
	if !verified {
		// Whether the repository exists is not told to a request that
		// cannot prove it knows the repository's secret: an unknown
		// repository, one of the other forge, one without its secret, a
		// wrong token and a wrong signature all get this one answer,
		// after the body was read as a known repository's is. It still
		// tells the sender of a genuine delivery where to look.
		w.Header().Set("Connection", "close")
		answer(w, http.StatusUnauthorized, fmt.Sprintf("no %s repository %s/%s registered here has the webhook secret this delivery is signed with", in.forge, in.ns, in.name))
		return
	}
	payload, ok := in.payload(w, r, body)
	if !ok {
		return
	}
	if in.id == "" || len(in.id) > maxDeliveryID || in.event == "" || len(in.event) > 100 {
		answer(w, http.StatusBadRequest, "a delivery needs its event and delivery id headers")
		return
	}
	rc.record(ctx, w, &store.Delivery{Forge: in.forge, DeliveryID: in.id, Namespace: in.ns, Repository: in.name,
		Event: in.event, Payload: payload, ReceivedAt: time.Now().UTC()})
}

// incoming is a delivery as its request tells it, before it is verified.
type incoming struct {
	// forge, ns and name are those of the URL.
	forge, ns, name string
	// event and id are the event's type and the delivery's id, as the
	// headers say.
	event, id string
	// sig is a GitHub delivery's signature.
	sig string
}

// parseIncoming reads what a request says of itself: its URL, the size it
// announces, its headers. It is checked before the repository is looked
// up, so that the answer is the same for every name; a request refused is
// answered here.
func parseIncoming(w http.ResponseWriter, r *http.Request) (incoming, bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		answer(w, http.StatusMethodNotAllowed, "webhooks are POSTed")
		return incoming{}, false
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, Prefix), "/")
	if len(parts) != 3 || (parts[0] != GitHub && parts[0] != GitLab) {
		answer(w, http.StatusNotFound, "want "+Prefix+"{github|gitlab}/{namespace}/{repository}")
		return incoming{}, false
	}
	in := incoming{forge: parts[0], ns: parts[1], name: parts[2]}
	if r.ContentLength > MaxPayloadBytes {
		w.Header().Set("Connection", "close")
		answer(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("a delivery is at most %d bytes", MaxPayloadBytes))
		return incoming{}, false
	}
	switch in.forge {
	case GitHub:
		// HMAC-SHA256 only: go-github would take the hash from the
		// header's prefix, SHA-1 included.
		if in.sig = r.Header.Get(github.SHA256SignatureHeader); !strings.HasPrefix(in.sig, "sha256=") {
			w.Header().Set("Connection", "close")
			answer(w, http.StatusUnauthorized, "X-Hub-Signature-256 with an HMAC-SHA256 (sha256=...) is required")
			return incoming{}, false
		}
		in.event, in.id = github.WebHookType(r), github.DeliveryID(r)
	case GitLab:
		// The webhook's own id per delivery where GitLab sends it; the
		// event's id is shared by the events one hook fires at once.
		in.event, in.id = r.Header.Get("X-Gitlab-Event"), cmp.Or(r.Header.Get("X-Gitlab-Webhook-UUID"), r.Header.Get("X-Gitlab-Event-UUID"))
	}
	if k := r.Header.Get("Idempotency-Key"); k != "" {
		in.id = k
	}
	return in, true
}

// answerReadError answers a request whose body could not be read.
func answerReadError(w http.ResponseWriter, err error) {
	w.Header().Set("Connection", "close")
	var tooBig *http.MaxBytesError
	var netErr net.Error
	switch {
	case errors.As(err, &tooBig):
		answer(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("a delivery is at most %d bytes", MaxPayloadBytes))
	case errors.Is(err, errBusy):
		w.Header().Set("Retry-After", "1")
		answer(w, http.StatusServiceUnavailable, "too many deliveries at once; deliver it again")
	case errors.As(err, &netErr) && netErr.Timeout():
		answer(w, http.StatusRequestTimeout, fmt.Sprintf("the delivery's body did not arrive in time (no pause over %s, at least %d KiB/s, at most %s in all)", BodyIdleTimeout, MinBodyRate>>10, MaxBodyTime))
	default:
		answer(w, http.StatusBadRequest, "reading the delivery: "+err.Error())
	}
}

// verify tells whether a delivery proves it knows the repository's secret
// ("": none to verify with): GitLab's token, GitHub's HMAC of the raw
// body, both compared in constant time.
func (in incoming) verify(r *http.Request, secret string, body []byte) bool {
	if secret == "" {
		return false
	}
	switch in.forge {
	case GitLab:
		return subtle.ConstantTimeCompare([]byte(r.Header.Get("X-Gitlab-Token")), []byte(secret)) == 1
	case GitHub:
		return github.ValidateSignature(in.sig, body, []byte(secret)) == nil
	}
	return true
}

// payload returns the event a delivery's body holds; a form-encoded GitHub
// delivery without one is answered 400.
func (in incoming) payload(w http.ResponseWriter, r *http.Request, body []byte) ([]byte, bool) {
	if in.forge != GitHub {
		return body, true
	}
	// A form-encoded delivery's JSON is its payload field.
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return body, true
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		answer(w, http.StatusBadRequest, "a form-encoded delivery that does not parse")
		return nil, false
	}
	payload := []byte(form.Get("payload"))
	if len(payload) == 0 {
		// Nothing to process: stored, it would pass for a delivery with
		// nothing to do.
		answer(w, http.StatusBadRequest, "a form-encoded delivery with no payload field (GitHub sends its JSON in payload=...)")
		return nil, false
	}
	return payload, true
}

// record stores a verified delivery and answers it: 202 when it is new,
// 200 when it was received before.
func (rc *Receiver) record(ctx context.Context, w http.ResponseWriter, d *store.Delivery) {
	added, err := rc.batch.add(ctx, rc.Store, d)
	if err != nil {
		rc.Log.Error("webhook: store delivery", "err", err)
		answer(w, http.StatusInternalServerError, "the delivery could not be stored; deliver it again")
		return
	}
	if !added {
		answer(w, http.StatusOK, "delivery "+d.DeliveryID+" was received before")
		return
	}
	if rc.Stored != nil {
		rc.Stored()
	}
	answer(w, http.StatusAccepted, "delivery "+d.DeliveryID+" accepted")
}

// secretOf returns the webhook secret of the repository ns/name of forge,
// or "" when there is none to verify with: the name is not a repository's,
// the repository is unknown or of the other forge, or its secret is not
// available (logged). An error is one of the index.
func (rc *Receiver) secretOf(ctx context.Context, forge, ns, name string) (string, error) {
	if len(validation.IsDNS1123Label(ns)) > 0 || len(validation.IsDNS1123Label(name)) > 0 {
		return "", nil
	}
	repo, err := rc.Store.GetRepository(ctx, ns, name)
	if errors.Is(err, store.ErrNotFound) || (err == nil && repo.Object.Spec.Provider != forge) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	secret, err := rc.Secret(ctx, ns, repo.Object.Spec.WebhookSecret)
	if err != nil || secret == "" {
		rc.Log.Warn("webhook: no secret to verify with", "repo", ns+"/"+name, "err", err)
		return "", nil
	}
	return secret, nil
}

// URL is where a repository's forge sends its webhooks, below base.
func URL(base string, repo *configv1alpha1.Repository) string {
	switch repo.Spec.Provider {
	case GitHub, GitLab:
		return strings.TrimSuffix(base, "/") + Prefix + repo.Spec.Provider + "/" + repo.Namespace + "/" + repo.Name
	}
	return ""
}
