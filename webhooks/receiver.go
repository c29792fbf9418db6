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
	// BodyTimeout bounds reading a delivery's body from its first byte to
	// its last: forges send theirs at once, and give up waiting for the
	// answer after 10 s themselves.
	BodyTimeout = 5 * time.Second
	// MaxBufferedBytes bounds the memory held by bodies being received at
	// once, and MaxRepositoryBufferedBytes that of one repository's. A body
	// holds what has arrived of it, not what it announces: slow bodies,
	// whose signature will not verify, hold next to nothing, and a
	// delivery is refused only when bodies that did arrive fill the
	// budget.
	MaxBufferedBytes           = 256 << 20
	MaxRepositoryBufferedBytes = 2 * MaxPayloadBytes
	// maxDeliveryID bounds a delivery id header.
	maxDeliveryID = 200
)

// SecretFunc returns the webhook secret a repository names.
type SecretFunc func(ctx context.Context, namespace, name string) (string, error)

// Receiver verifies and stores deliveries.
type Receiver struct {
	Store  store.Store
	Secret SecretFunc
	Log    *slog.Logger
	// Stored is called after a delivery is stored, to wake processing.
	Stored func()

	batch  batcher
	budget bodyBudget
}

// bodyBudget counts the bytes of bodies held, in all and per repository.
type bodyBudget struct {
	mu     sync.Mutex
	total  int64
	byRepo map[string]int64
}

// take reserves n bytes for repo, if both budgets have room.
func (b *bodyBudget) take(repo string, n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.total+n > MaxBufferedBytes || b.byRepo[repo]+n > MaxRepositoryBufferedBytes {
		return false
	}
	if b.byRepo == nil {
		b.byRepo = map[string]int64{}
	}
	b.total += n
	b.byRepo[repo] += n
	return true
}

// give returns n bytes of repo's.
func (b *bodyBudget) give(repo string, n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total -= n
	if b.byRepo[repo] -= n; b.byRepo[repo] <= 0 {
		delete(b.byRepo, repo)
	}
}

// errBudget is readBody's refusal when the bodies held fill the budget.
var errBudget = errors.New("too many deliveries are being received at once")

// readBody reads a delivery's body within BodyTimeout and the budget of
// repo, whose bytes it holds until release is called.
func (rc *Receiver) readBody(w http.ResponseWriter, r *http.Request, repo string) (body []byte, release func(), err error) {
	ctl := http.NewResponseController(w)
	_ = ctl.SetReadDeadline(time.Now().Add(BodyTimeout))
	// The deadline is lifted once the body is read: net/http reads on in
	// the background, and a deadline passing there would cancel the
	// request while the delivery is stored.
	defer func() { _ = ctl.SetReadDeadline(time.Time{}) }()
	var held int64
	release = func() { rc.budget.give(repo, held) }
	chunk := make([]byte, 32<<10)
	for {
		n, rerr := r.Body.Read(chunk)
		if n > 0 {
			if int64(len(body)+n) > MaxPayloadBytes {
				return nil, release, &http.MaxBytesError{Limit: MaxPayloadBytes}
			}
			if len(body)+n > cap(body) {
				// Grown as append would, the growth taken from the
				// budget first: what is held is what is allocated.
				size := int64(min(max(2*cap(body), len(body)+n, 64<<10), MaxPayloadBytes))
				if !rc.budget.take(repo, size-int64(cap(body))) {
					return nil, release, errBudget
				}
				held += size - int64(cap(body))
				body = append(make([]byte, 0, size), body...)
			}
			body = append(body, chunk[:n]...)
		}
		if rerr == io.EOF {
			return body, release, nil
		}
		if rerr != nil {
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
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		answer(w, http.StatusMethodNotAllowed, "webhooks are POSTed")
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, Prefix), "/")
	if len(parts) != 3 || (parts[0] != GitHub && parts[0] != GitLab) {
		answer(w, http.StatusNotFound, "want "+Prefix+"{github|gitlab}/{namespace}/{repository}")
		return
	}
	forge, ns, name := parts[0], parts[1], parts[2]
	// Whether the repository exists is not told to a request that cannot
	// prove it knows the repository's secret: an unknown repository, one
	// of the other forge, one without its secret, a wrong token and a
	// wrong signature all get this one answer. It still tells the sender
	// of a genuine delivery where to look.
	unverified := func() {
		w.Header().Set("Connection", "close")
		answer(w, http.StatusUnauthorized, fmt.Sprintf("no %s repository %s/%s registered here has the webhook secret this delivery is signed with", forge, ns, name))
	}
	var event, id, sig string
	switch forge {
	case GitHub:
		// HMAC-SHA256 only: go-github would take the hash from the
		// header's prefix, SHA-1 included. Checked before the
		// repository is looked up: the answer is the same for all.
		if sig = r.Header.Get(github.SHA256SignatureHeader); !strings.HasPrefix(sig, "sha256=") {
			w.Header().Set("Connection", "close")
			answer(w, http.StatusUnauthorized, "X-Hub-Signature-256 with an HMAC-SHA256 (sha256=...) is required")
			return
		}
		event, id = github.WebHookType(r), github.DeliveryID(r)
	case GitLab:
		// The webhook's own id per delivery where GitLab sends it; the
		// event's id is shared by the events one hook fires at once.
		event, id = r.Header.Get("X-Gitlab-Event"), cmp.Or(r.Header.Get("X-Gitlab-Webhook-UUID"), r.Header.Get("X-Gitlab-Event-UUID"))
	}
	if len(validation.IsDNS1123Label(ns)) > 0 || len(validation.IsDNS1123Label(name)) > 0 {
		unverified()
		return
	}
	ctx := r.Context()
	repo, err := rc.Store.GetRepository(ctx, ns, name)
	if errors.Is(err, store.ErrNotFound) || (err == nil && repo.Object.Spec.Provider != forge) {
		unverified()
		return
	}
	if err != nil {
		rc.Log.Error("webhook: read repository", "err", err)
		answer(w, http.StatusInternalServerError, "internal error")
		return
	}
	// Everything that can be checked before the body is: the secret, the
	// token or the signature header's form, the size. A body is read only
	// for a request that could be genuine.
	secret, err := rc.Secret(ctx, ns, repo.Object.Spec.WebhookSecret)
	if err != nil || secret == "" {
		rc.Log.Warn("webhook: no secret to verify with", "repo", ns+"/"+name, "err", err)
		unverified()
		return
	}
	if forge == GitLab && subtle.ConstantTimeCompare([]byte(r.Header.Get("X-Gitlab-Token")), []byte(secret)) != 1 {
		unverified()
		return
	}
	if k := r.Header.Get("Idempotency-Key"); k != "" {
		id = k
	}
	if r.ContentLength > MaxPayloadBytes {
		w.Header().Set("Connection", "close")
		answer(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("a delivery is at most %d bytes", MaxPayloadBytes))
		return
	}
	body, release, err := rc.readBody(w, r, ns+"/"+name)
	defer release()
	var tooBig *http.MaxBytesError
	var netErr net.Error
	switch {
	case err == nil:
	case errors.As(err, &tooBig):
		w.Header().Set("Connection", "close")
		answer(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("a delivery is at most %d bytes", MaxPayloadBytes))
		return
	case errors.Is(err, errBudget):
		w.Header().Set("Connection", "close")
		w.Header().Set("Retry-After", "1")
		answer(w, http.StatusServiceUnavailable, "too many deliveries at once; deliver it again")
		return
	case errors.As(err, &netErr) && netErr.Timeout():
		w.Header().Set("Connection", "close")
		answer(w, http.StatusRequestTimeout, fmt.Sprintf("the delivery's body did not arrive within %s", BodyTimeout))
		return
	default:
		w.Header().Set("Connection", "close")
		answer(w, http.StatusBadRequest, "reading the delivery: "+err.Error())
		return
	}
	if forge == GitHub {
		// The HMAC covers the raw body, compared in constant time.
		if err := github.ValidateSignature(sig, body, []byte(secret)); err != nil {
			unverified()
			return
		}
	}
	payload := body
	if forge == GitHub {
		// A form-encoded delivery's JSON is its payload field.
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
			form, err := url.ParseQuery(string(body))
			if err != nil {
				answer(w, http.StatusBadRequest, "a form-encoded delivery that does not parse")
				return
			}
			payload = []byte(form.Get("payload"))
		}
	}
	if id == "" || len(id) > maxDeliveryID || event == "" || len(event) > 100 {
		answer(w, http.StatusBadRequest, "a delivery needs its event and delivery id headers")
		return
	}
	added, err := rc.batch.add(ctx, rc.Store, &store.Delivery{Forge: forge, DeliveryID: id, Namespace: ns, Repository: name,
		Event: event, Payload: payload, ReceivedAt: time.Now().UTC()})
	if err != nil {
		rc.Log.Error("webhook: store delivery", "err", err)
		answer(w, http.StatusInternalServerError, "the delivery could not be stored; deliver it again")
		return
	}
	if !added {
		answer(w, http.StatusOK, "delivery "+id+" was received before")
		return
	}
	if rc.Stored != nil {
		rc.Stored()
	}
	answer(w, http.StatusAccepted, "delivery "+id+" accepted")
}

// URL is where a repository's forge sends its webhooks, below base.
func URL(base string, repo *configv1alpha1.Repository) string {
	switch repo.Spec.Provider {
	case GitHub, GitLab:
		return strings.TrimSuffix(base, "/") + Prefix + repo.Spec.Provider + "/" + repo.Namespace + "/" + repo.Name
	}
	return ""
}
