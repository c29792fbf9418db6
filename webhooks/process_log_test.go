package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
	"github.com/pkgserver/pkgserver/internal/store/sqlstore"
)

// failingSyncer fails every sync with err.
type failingSyncer struct{ err error }

func (s failingSyncer) SyncNow(context.Context, string, string) error { return s.err }
func (s failingSyncer) Apply(context.Context, string, string, []revision.RefUpdate) error {
	return s.err
}

// logBuffer collects JSON log records.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records returns the records whose delivery attribute is id.
func (b *logBuffer) records(t *testing.T, id string) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if r["delivery"] == id {
			out = append(out, r)
		}
	}
	return out
}

// newLoggedProcessor returns a processor on a new store holding the GitHub
// repository default/gh of acme/blueprints, syncing with syncer, and what
// it logs.
func newLoggedProcessor(t *testing.T, syncer Syncer) (*Processor, *logBuffer) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	repo := &store.Repository{Object: configv1alpha1.Repository{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "gh"},
		Spec: configv1alpha1.RepositorySpec{Provider: GitHub, WebhookSecret: "hooks", Git: configv1alpha1.GitSpec{URL: "https://github.com/acme/blueprints.git"},
			GitHub: &configv1alpha1.GitHubSpec{Owner: "acme", Repo: "blueprints"}}}}
	if err := st.CreateRepository(ctx, repo); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	return NewProcessor(st, syncer, slog.New(slog.NewJSONHandler(logs, nil))), logs
}

func addDelivery(t *testing.T, st store.Deliveries, id, event, body string) {
	t.Helper()
	added, err := st.AddDelivery(context.Background(), &store.Delivery{Forge: GitHub, DeliveryID: id, Namespace: "default", Repository: "gh",
		Event: event, Payload: []byte(body), ReceivedAt: time.Now()})
	if err != nil || !added {
		t.Fatalf("store delivery %s: %v %v", id, added, err)
	}
}

const pushAbout = `{"ref":"refs/heads/drafts/nginx/first","before":"0000000000000000000000000000000000000000","after":"1111111111111111111111111111111111111111","repository":{"full_name":"REPO"}}`

// TestNotActedOnIsLogged: a delivery recorded as not acted on — its
// payload about another forge repository (one renamed on the forge), or
// not parsing — is logged with its id, forge, repository and why.
func TestNotActedOnIsLogged(t *testing.T) {
	p, logs := newLoggedProcessor(t, failingSyncer{})
	addDelivery(t, p.Store, "renamed", "push", strings.Replace(pushAbout, "REPO", "acme/renamed", 1))
	addDelivery(t, p.Store, "garbled", "push", `{"ref":`)
	if p.drain(context.Background()) {
		t.Error("a delivery waits for another attempt")
	}
	for _, tc := range []struct{ id, why string }{
		{"renamed", "the payload is about acme/renamed, not acme/blueprints"},
		{"garbled", "push payload"},
	} {
		d, err := p.Store.GetDelivery(context.Background(), GitHub, tc.id)
		if err != nil || !d.Done || !strings.Contains(d.Error, "not acted on") {
			t.Fatalf("%s: %+v, %v; want done, not acted on", tc.id, d, err)
		}
		recs := logs.records(t, tc.id)
		if len(recs) != 1 {
			t.Fatalf("%s: %d log records, want 1: %v", tc.id, len(recs), recs)
		}
		r := recs[0]
		why, _ := r["why"].(string)
		if r["level"] != "WARN" || r["forge"] != GitHub || r["repo"] != "default/gh" || !strings.Contains(why, tc.why) {
			t.Errorf("%s: logged %v; want a warning with forge, repo and why %q", tc.id, r, tc.why)
		}
	}
}

// TestGivingUpIsLogged: every failed attempt is logged, the last one — the
// one after which the delivery is not tried again — as an error with the
// attempts made and the error.
func TestGivingUpIsLogged(t *testing.T) {
	p, logs := newLoggedProcessor(t, failingSyncer{err: errors.New("fetch: remote unreachable")})
	addDelivery(t, p.Store, "doomed", "push", strings.Replace(pushAbout, "REPO", "acme/blueprints", 1))
	for range maxAttempts {
		clear(p.next) // due at once: the backoff is not what is tested
		p.drain(context.Background())
	}
	d, err := p.Store.GetDelivery(context.Background(), GitHub, "doomed")
	if err != nil || !d.Done || d.Attempts != maxAttempts {
		t.Fatalf("delivery %+v, %v; want done after %d attempts", d, err, maxAttempts)
	}
	recs := logs.records(t, "doomed")
	if len(recs) != maxAttempts {
		t.Fatalf("%d log records, want one per attempt (%d): %v", len(recs), maxAttempts, recs)
	}
	for i, r := range recs {
		errText, _ := r["err"].(string)
		if r["attempts"] != float64(i+1) || !strings.Contains(errText, "remote unreachable") {
			t.Errorf("record %d: %v; want attempts %d and the error", i, r, i+1)
		}
	}
	if last := recs[maxAttempts-1]; last["level"] != "ERROR" || !strings.Contains(last["msg"].(string), "given up") {
		t.Errorf("last attempt logged %v; want an error saying the delivery is given up", last)
	}
}
