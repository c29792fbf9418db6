package api

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
)

func TestChangeSend(t *testing.T) {
	for _, tc := range []struct {
		name          string
		before, after bool
		want          string // "" for nothing sent
	}{
		{"stays in the selection", true, true, "MODIFIED"},
		{"enters it", false, true, "ADDED"},
		{"leaves it", true, false, "DELETED"},
		{"never in it", false, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := change{before: tc.before, after: tc.after}.send()
			if !ok {
				got = ""
			}
			if got != tc.want {
				t.Errorf("sent %q, want %q", got, tc.want)
			}
		})
	}
}

// TestListParams checks the combinations of list and watch parameters the
// Kubernetes API server refuses, and those client-go sends.
func TestListParams(t *testing.T) {
	for _, tc := range []struct {
		query string
		code  int // 0: accepted
	}{
		// client-go's watch list, from nothing and from a resource version.
		{"watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true", 0},
		{"watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&resourceVersion=12", 0},
		{"watch=true&resourceVersion=12&allowWatchBookmarks=true", 0},
		{"resourceVersion=12&resourceVersionMatch=Exact", 0},
		{"resourceVersion=12&resourceVersionMatch=NotOlderThan&limit=5", 0},
		{"limit=5&continue=abc", 0},
		{"sendInitialEvents=true&resourceVersionMatch=NotOlderThan", http.StatusUnprocessableEntity},    // not a watch
		{"watch=true&sendInitialEvents=true", http.StatusUnprocessableEntity},                           // without NotOlderThan
		{"watch=true&resourceVersionMatch=NotOlderThan", http.StatusUnprocessableEntity},                // without sendInitialEvents
		{"resourceVersionMatch=Exact", http.StatusUnprocessableEntity},                                  // without resourceVersion
		{"resourceVersion=0&resourceVersionMatch=Exact", http.StatusUnprocessableEntity},                // exact 0
		{"resourceVersion=3&resourceVersionMatch=Newest", http.StatusUnprocessableEntity},               // unknown
		{"resourceVersion=3&resourceVersionMatch=Exact&continue=abc", http.StatusUnprocessableEntity},   // with continue
		{"watch=yes", http.StatusBadRequest},                                                            // not a boolean
		{"resourceVersion=abc", http.StatusBadRequest},                                                  // not a version
		{"resourceVersion=-4&watch=true", http.StatusBadRequest},                                        // not a version
		{"resourceVersion=4&continue=abc", http.StatusBadRequest},                                       // both
		{"limit=-1", http.StatusBadRequest},                                                             // negative
		{"timeoutSeconds=x&watch=true", http.StatusBadRequest},                                          // not a number
		{"watch=true&sendInitialEvents=maybe&resourceVersionMatch=NotOlderThan", http.StatusBadRequest}, // not a boolean
	} {
		t.Run(tc.query, func(t *testing.T) {
			c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/?"+tc.query, nil), httptest.NewRecorder())
			_, err := parseListParams(c)
			code := 0
			if err != nil {
				se, ok := err.(*statusError)
				if !ok {
					t.Fatalf("error %T: %v", err, err)
				}
				code = int(se.status.Code)
			}
			if code != tc.code {
				t.Errorf("code %d (%v), want %d", code, err, tc.code)
			}
		})
	}
}

func TestListVersion(t *testing.T) {
	for _, tc := range []struct {
		query string
		code  int
	}{
		{"", 0},
		{"resourceVersion=0", 0},
		{"resourceVersion=9", 0},
		{"resourceVersion=10", 0},
		{"resourceVersion=11", http.StatusGatewayTimeout}, // newer than the index
		{"resourceVersion=10&resourceVersionMatch=Exact", 0},
		{"resourceVersion=9&resourceVersionMatch=Exact", http.StatusGone},
		{"resourceVersion=9&resourceVersionMatch=NotOlderThan", 0},
	} {
		c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/?"+tc.query, nil), httptest.NewRecorder())
		p, err := parseListParams(c)
		if err != nil {
			t.Fatalf("%s: %v", tc.query, err)
		}
		code := 0
		if err := p.checkListVersion(10); err != nil {
			code = int(err.(*statusError).status.Code)
		}
		if code != tc.code {
			t.Errorf("%s at 10: code %d, want %d", tc.query, code, tc.code)
		}
	}
}

// TestWatchUnsent checks that a watch which skipped an addition (its state
// was gone when read) sends the object's next change as an addition and
// nothing of its deletion.
func TestWatchUnsent(t *testing.T) {
	type step struct {
		typ    string
		exists bool // the state the event names is still there
	}
	for _, tc := range []struct {
		name  string
		steps []step
		want  []string
	}{
		{"addition gone, then modified", []step{{"ADDED", false}, {"MODIFIED", true}, {"MODIFIED", true}}, []string{"ADDED", "MODIFIED"}},
		{"addition gone, then deleted", []step{{"ADDED", false}, {"DELETED", true}, {"ADDED", true}}, []string{"ADDED"}},
		{"addition and modification gone", []step{{"ADDED", false}, {"MODIFIED", false}, {"MODIFIED", true}}, []string{"ADDED"}},
		{"addition sent", []step{{"ADDED", true}, {"MODIFIED", false}, {"MODIFIED", true}, {"DELETED", true}}, []string{"ADDED", "MODIFIED", "DELETED"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := unsent{}
			var got []string
			for _, s := range tc.steps {
				typ, ok := u.adjust("ns/a", s.typ)
				if !ok {
					continue
				}
				u.sent("ns/a", typ, s.exists)
				if s.exists {
					got = append(got, typ)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("sent %v, want %v", got, tc.want)
			}
			// Another object is not affected.
			if typ, ok := u.adjust("ns/b", "MODIFIED"); !ok || typ != "MODIFIED" {
				t.Errorf("another object: %q %v", typ, ok)
			}
		})
	}
}
