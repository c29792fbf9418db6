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
	// ReadTimeout bounds the wait for a turn to read a body; reading a
	// whole request is bounded by the API server's 30 s.
	ReadTimeout = 10 * time.Second
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

	batch     batcher
	readOnce  sync.Once
	readSlots chan struct{}
}

// MaxReading bounds the deliveries whose bodies are read at once.
const MaxReading = 32

func (rc *Receiver) reading() chan struct{} {
	rc.readOnce.Do(func() { rc.readSlots = make(chan struct{}, MaxReading) })
	return rc.readSlots
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
	if len(validation.IsDNS1123Label(ns)) > 0 || len(validation.IsDNS1123Label(name)) > 0 {
		answer(w, http.StatusNotFound, "no such repository")
		return
	}
	ctx := r.Context()
	repo, err := rc.Store.GetRepository(ctx, ns, name)
	if errors.Is(err, store.ErrNotFound) || (err == nil && repo.Object.Spec.Provider != forge) {
		answer(w, http.StatusNotFound, fmt.Sprintf("no %s repository %s/%s", forge, ns, name))
		return
	}
	if err != nil {
		rc.Log.Error("webhook: read repository", "err", err)
		answer(w, http.StatusInternalServerError, "internal error")
		return
	}
	// Everything that can be checked before the body is: the secret, the
	// token or the signature header's form, the size. A body is read only
	// for a request that could be genuine, and only so many at once.
	secret, err := rc.Secret(ctx, ns, repo.Object.Spec.WebhookSecret)
	if err != nil || secret == "" {
		rc.Log.Warn("webhook: no secret to verify with", "repo", ns+"/"+name, "err", err)
		answer(w, http.StatusUnauthorized, "the repository's webhook secret is not available")
		return
	}
	var event, id, sig string
	switch forge {
	case GitHub:
		// HMAC-SHA256 only: go-github would take the hash from the
		// header's prefix, SHA-1 included.
		if sig = r.Header.Get(github.SHA256SignatureHeader); !strings.HasPrefix(sig, "sha256=") {
			answer(w, http.StatusUnauthorized, "X-Hub-Signature-256 with an HMAC-SHA256 (sha256=...) is required")
			return
		}
		event, id = github.WebHookType(r), github.DeliveryID(r)
	case GitLab:
		tok := r.Header.Get("X-Gitlab-Token")
		if subtle.ConstantTimeCompare([]byte(tok), []byte(secret)) != 1 {
			answer(w, http.StatusUnauthorized, "X-Gitlab-Token does not match the repository's webhook secret")
			return
		}
		// The webhook's own id per delivery where GitLab sends it; the
		// event's id is shared by the events one hook fires at once.
		event, id = r.Header.Get("X-Gitlab-Event"), cmp.Or(r.Header.Get("X-Gitlab-Webhook-UUID"), r.Header.Get("X-Gitlab-Event-UUID"))
	}
	if k := r.Header.Get("Idempotency-Key"); k != "" {
		id = k
	}
	if r.ContentLength > MaxPayloadBytes {
		answer(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("a delivery is at most %d bytes", MaxPayloadBytes))
		return
	}
	// Bodies are read MaxReading at a time; a request waits its turn
	// (its body unread) a few seconds at most.
	wait := time.NewTimer(ReadTimeout)
	select {
	case rc.reading() <- struct{}{}:
		wait.Stop()
	case <-wait.C:
		w.Header().Set("Retry-After", "1")
		answer(w, http.StatusServiceUnavailable, "too many deliveries at once; deliver it again")
		return
	case <-ctx.Done():
		wait.Stop()
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxPayloadBytes))
	<-rc.reading()
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		answer(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("a delivery is at most %d bytes", MaxPayloadBytes))
		return
	case err != nil:
		answer(w, http.StatusBadRequest, "reading the delivery: "+err.Error())
		return
	}
	payload := body
	if forge == GitHub {
		// The HMAC covers the raw body, compared in constant time; a
		// form-encoded delivery's JSON is its payload field.
		if err := github.ValidateSignature(sig, body, []byte(secret)); err != nil {
			answer(w, http.StatusUnauthorized, "the signature does not match the delivery")
			return
		}
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
