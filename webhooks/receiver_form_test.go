package webhooks_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/pkgserver/pkgserver/internal/store"
	"github.com/pkgserver/pkgserver/webhooks"
)

// TestFormWithoutPayload: a signed form-encoded GitHub delivery whose form
// has no payload field is refused with 400 and a message that says so, and
// nothing is stored; one with the field is accepted.
func TestFormWithoutPayload(t *testing.T) {
	f := setup(t)
	const path = "/webhooks/github/default/gh"
	for _, tc := range []struct{ id, body string }{
		{"form-empty", ""},
		{"form-other-field", "zen=keep+it+simple"},
		{"form-empty-payload", "payload="},
	} {
		h := githubHeaders("ping", tc.id, []byte(tc.body), secret)
		h["Content-Type"] = "application/x-www-form-urlencoded"
		req, _ := http.NewRequest(http.MethodPost, f.url+path, strings.NewReader(tc.body))
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !bytes.Contains(msg, []byte("no payload field")) {
			t.Errorf("%s: %d %s, want 400 saying the form has no payload field", tc.id, resp.StatusCode, msg)
		}
		if _, err := f.store.GetDelivery(context.Background(), webhooks.GitHub, tc.id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: the delivery was stored (%v)", tc.id, err)
		}
	}
	ping := `{"zen":"Keep it logically awesome.","hook_id":1}`
	body := []byte(url.Values{"payload": {ping}}.Encode())
	h := githubHeaders("ping", "form-ok", body, secret)
	h["Content-Type"] = "application/x-www-form-urlencoded"
	if code := f.deliver(path, body, h); code != http.StatusAccepted {
		t.Fatalf("a form with its payload: %d, want 202", code)
	}
	if d := f.waitDone(webhooks.GitHub, "form-ok"); string(d.Payload) != ping || d.Error != "" {
		t.Errorf("stored %q (error %q), want the form's payload %q", d.Payload, d.Error, ping)
	}
}
