package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pkgserver/pkgserver/internal/api"
)

// apiError is an API answer other than 2xx: its code and message.
type apiError struct {
	code    int
	message string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d: %s", e.code, e.message) }

// call makes an API request in process, as the visitor, and decodes a 2xx
// answer into out (unless nil). body, unless nil, is sent as JSON, or as a
// JSON merge patch for PATCH.
func (u *UI) call(r *http.Request, v *visitor, method, path string, body, out any) error {
	var in io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		in = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(api.WithToken(r.Context(), v.token), method, path, in)
	if err != nil {
		return err
	}
	if body != nil {
		ct := "application/json"
		if method == http.MethodPatch {
			ct = "application/merge-patch+json"
		}
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("Accept", "application/json")
	var w answer
	u.cfg.API.ServeHTTP(&w, req)
	if w.code < 200 || w.code > 299 {
		var st metav1.Status
		msg := w.body.String()
		if json.Unmarshal(w.body.Bytes(), &st) == nil && st.Message != "" {
			msg = st.Message
		}
		return &apiError{code: w.code, message: msg}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(w.body.Bytes(), out)
}

// answer is an API answer made in process.
type answer struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (a *answer) Header() http.Header {
	if a.header == nil {
		a.header = http.Header{}
	}
	return a.header
}

func (a *answer) WriteHeader(code int) {
	if a.code == 0 {
		a.code = code
	}
}

func (a *answer) Write(b []byte) (int, error) {
	if a.code == 0 {
		a.code = http.StatusOK
	}
	return a.body.Write(b)
}
