package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/pkgserver/pkgserver/internal/api"
	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
)

// TestWatchEndsOnRevocation: a watch whose token is revoked while it is
// open ends with an ERROR event (401 Unauthorized), as a new request with
// the token is answered, and the stream closes: a client watching again
// is refused. A watch of another token is not ended.
func TestWatchEndsOnRevocation(t *testing.T) {
	defer api.SetTokenRecheck(100 * time.Millisecond)()
	h := start(t)
	g := blueprints(t)
	h.addRepo("blueprints", g.Dir)
	h.waitReady("blueprints")
	path := "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions?watch=true&allowWatchBookmarks=true"

	open := func(token string) (*http.Response, *json.Decoder) {
		req, err := http.NewRequest(http.MethodGet, h.url+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+h.tokens[token])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("watch as %s: %d %s", token, resp.StatusCode, b)
		}
		return resp, json.NewDecoder(resp.Body)
	}
	_, revoked := open("reader")
	other, kept := open("nsadmin")
	// The initial events: the watch is streaming.
	var e rawEvent
	if err := revoked.Decode(&e); err != nil || e.Type != "ADDED" {
		t.Fatalf("first event %+v: %v", e, err)
	}

	if err := h.store.DeleteToken(context.Background(), "reader"); err != nil {
		t.Fatal(err)
	}
	// Read to the end of the stream: the initial events, then the ERROR.
	ended := make(chan error, 1)
	var last rawEvent
	go func() {
		for {
			var e rawEvent
			if err := revoked.Decode(&e); err != nil {
				ended <- err
				return
			}
			last = e
		}
	}()
	select {
	case err := <-ended:
		if err != io.EOF {
			t.Fatalf("the watch ended with %v, want the end of the stream", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the watch of a revoked token is still open after a minute")
	}
	var st metav1.Status
	if err := json.Unmarshal(last.Object, &st); err != nil {
		t.Fatal(err)
	}
	if last.Type != "ERROR" || st.Code != http.StatusUnauthorized || st.Reason != metav1.StatusReasonUnauthorized {
		t.Errorf("last event %s %s, want ERROR with a 401 Status", last.Type, last.Object)
	}
	if code, _ := h.do(http.MethodGet, path, "reader", nil); code != http.StatusUnauthorized {
		t.Errorf("watching again with the revoked token: %d, want 401", code)
	}

	// The other token's watch is still open, though its token was checked
	// again many times since: a change made now reaches it.
	events := make(chan rawEvent, 100)
	done := make(chan error, 1)
	go func() {
		for {
			var e rawEvent
			if err := kept.Decode(&e); err != nil {
				done <- err
				return
			}
			events <- e
		}
	}()
	g.Write(gittest.Package("nginx", "3"))
	g.Tag("nginx/v3", g.Commit("nginx 3"), "")
	h.sync("blueprints")
	for {
		select {
		case err := <-done:
			t.Fatalf("the watch of a valid token ended: %v", err)
		case e := <-events:
			if e.Type == "ADDED" && strings.Contains(string(e.Object), `"blueprints.nginx.v3"`) {
				other.Body.Close()
				return
			}
		case <-time.After(time.Minute):
			t.Fatal("the watch of a valid token did not receive the new revision within a minute")
		}
	}
}

// TestWatchFutureResourceVersion: a watch from a resource version the
// server has not reached is answered as kube-apiserver answers it once its
// cache has not caught up: 504 Timeout "Too large resource version" with a
// ResourceVersionTooLarge cause and a retry after a second, before any
// stream starts, for every resource and every kind of watch.
func TestWatchFutureResourceVersion(t *testing.T) {
	h := start(t)
	g := blueprints(t)
	h.addRepo("blueprints", g.Dir)
	h.waitReady("blueprints")
	var list metav1.List
	h.get(allReposPath, "admin", &list)
	future := strconv.Itoa(atoi(t, list.ResourceVersion) + 1000)
	for _, resource := range []string{allReposPath, allResPath,
		"/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions"} {
		for _, query := range []string{"?watch=true&resourceVersion=" + future,
			"?watch=true&allowWatchBookmarks=true&resourceVersion=" + future + "&labelSelector=a%3Db",
			"?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&resourceVersion=" + future} {
			code, body := h.do(http.MethodGet, resource+query, "admin", nil)
			st := h.status(code, body, http.StatusGatewayTimeout)
			if st.Reason != metav1.StatusReasonTimeout || st.Details == nil || st.Details.RetryAfterSeconds != 1 ||
				len(st.Details.Causes) != 1 || st.Details.Causes[0].Type != metav1.CauseTypeResourceVersionTooLarge ||
				!strings.HasPrefix(st.Message, "Too large resource version: "+future) {
				t.Errorf("%s%s: %s", resource, query, body)
			}
		}
	}
}

// TestInformerOfRevokedToken runs client-go's informer with a token that is
// then revoked: its watch ends, and the reflector's next list or watch is
// refused 401, which it reports to its watch error handler.
func TestInformerOfRevokedToken(t *testing.T) {
	h := start(t)
	g := blueprints(t)
	h.addRepo("blueprints", g.Dir)
	h.waitReady("blueprints")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dyn, err := dynamic.NewForConfig(&rest.Config{Host: h.url, BearerToken: h.tokens["reader"]})
	if err != nil {
		t.Fatal(err)
	}
	revs := schema.GroupVersionResource{Group: "pkg.pkgserver.dev", Version: "v1alpha1", Resource: "packagerevisions"}
	f := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, "default", nil)
	inf := f.ForResource(revs).Informer()
	errs := make(chan error, 100)
	if err := inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		select {
		case errs <- err:
		default:
		}
	}); err != nil {
		t.Fatal(err)
	}
	f.Start(ctx.Done())
	defer f.Shutdown()
	defer cancel() // before the factory's Shutdown, which waits for it
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("the informer did not sync")
	}
	if err := h.store.DeleteToken(ctx, "reader"); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case err := <-errs:
			if apierrors.IsUnauthorized(err) {
				return
			}
			t.Logf("watch error: %v", err)
		case <-ctx.Done():
			t.Fatal("the informer was never refused after its token was revoked")
		}
	}
}
