package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pkgserver/pkgserver/internal/store"
)

// statusError is an error answered as a Kubernetes Status.
type statusError struct {
	status metav1.Status
}

func (e *statusError) Error() string { return e.status.Message }

func newStatus(code int32, reason metav1.StatusReason, format string, args ...any) *statusError {
	return &statusError{status: metav1.Status{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"},
		Status:   metav1.StatusFailure,
		Code:     code,
		Reason:   reason,
		Message:  fmt.Sprintf(format, args...),
	}}
}

func badRequest(format string, args ...any) error {
	return newStatus(http.StatusBadRequest, metav1.StatusReasonBadRequest, format, args...)
}

// resourceGroups are the groups of the API's resources: errors about
// their objects name them as kube-apiserver does (resource.group "name"),
// which is how kubectl shows them.
var resourceGroups = map[string]string{
	"repositories":             configGroup,
	"packagerevisions":         pkgGroup,
	"packagerevisionresources": pkgGroup,
}

// qualified is a resource with its group, as errors name it.
func qualified(resource string) (string, string) {
	if g, ok := resourceGroups[resource]; ok {
		return resource + "." + g, g
	}
	return resource, ""
}

func notFound(kind, name string) error {
	q, group := qualified(kind)
	e := newStatus(http.StatusNotFound, metav1.StatusReasonNotFound, "%s %q not found", q, name)
	e.status.Details = &metav1.StatusDetails{Name: name, Group: group, Kind: kind}
	return e
}

func alreadyExists(kind, name string) error {
	q, group := qualified(kind)
	e := newStatus(http.StatusConflict, metav1.StatusReasonAlreadyExists, "%s %q already exists", q, name)
	e.status.Details = &metav1.StatusDetails{Name: name, Group: group, Kind: kind}
	return e
}

func invalid(kind, name string, causes []metav1.StatusCause) error {
	msg := fmt.Sprintf("%s %q is invalid", kind, name)
	for i, c := range causes {
		if i == 0 {
			msg += ": "
		} else {
			msg += ", "
		}
		if c.Field != "" {
			msg += c.Field + ": "
		}
		msg += c.Message
	}
	e := newStatus(http.StatusUnprocessableEntity, metav1.StatusReasonInvalid, "%s", msg)
	e.status.Details = &metav1.StatusDetails{Name: name, Kind: kind, Causes: causes}
	return e
}

// toStatus translates any error into the Status answered for it; errors
// that are not the caller's fault are logged and answered generically.
func toStatus(err error, log *slog.Logger, route string) metav1.Status {
	var se *statusError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &se):
		return se.status
	case errors.As(err, &he):
		code := int32(he.Code)
		reason, msg := metav1.StatusReasonUnknown, http.StatusText(he.Code)
		switch he.Code {
		case http.StatusNotFound:
			reason, msg = metav1.StatusReasonNotFound, "the server could not find the requested resource"
		case http.StatusMethodNotAllowed:
			reason, msg = metav1.StatusReasonMethodNotAllowed, "the server does not allow this method on the requested resource"
		case http.StatusRequestEntityTooLarge:
			reason = metav1.StatusReasonRequestEntityTooLarge
		case http.StatusUnauthorized:
			reason = metav1.StatusReasonUnauthorized
		case http.StatusBadRequest:
			reason = metav1.StatusReasonBadRequest
		}
		return newStatus(code, reason, "%s", msg).status
	case errors.Is(err, store.ErrNotFound):
		return newStatus(http.StatusNotFound, metav1.StatusReasonNotFound, "%v", err).status
	case errors.Is(err, store.ErrConflict):
		return newStatus(http.StatusConflict, metav1.StatusReasonConflict, "%v", err).status
	case errors.Is(err, store.ErrExists):
		return newStatus(http.StatusConflict, metav1.StatusReasonAlreadyExists, "%v", err).status
	case errors.Is(err, store.ErrInvalidContinue):
		return newStatus(http.StatusBadRequest, metav1.StatusReasonBadRequest, "invalid continue token").status
	case errors.Is(err, store.ErrCompacted):
		return newStatus(http.StatusGone, metav1.StatusReasonExpired, "the resource version is too old: list again").status
	}
	log.Error("request failed", "route", route, "err", err)
	return newStatus(http.StatusInternalServerError, metav1.StatusReasonInternalError, "internal error").status
}

// errorHandler answers every error as a Status.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	st := toStatus(err, s.log, c.Path())
	_ = writeJSON(c, int(st.Code), st)
}

// writeJSON answers with an object as JSON, with its length: one buffer,
// written at once, rather than a stream in chunks. A successful answer of
// one of the API's kinds is a Table when the request asks for one.
func writeJSON(c echo.Context, code int, v any) error {
	if code >= 200 && code < 300 {
		var err error
		if v, err = asTable(c, v); err != nil {
			return err
		}
	}
	b, err := marshalJSON(v)
	if err != nil {
		return err
	}
	return writeBody(c, code, b)
}

// marshalJSON is an object's JSON answer, ending with a newline.
func marshalJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	return append(b, '\n'), err
}

// writeJSONBytes answers with an object already in JSON; it is decoded
// again only when the request asks for a Table.
func writeJSONBytes(c echo.Context, code int, b []byte) error {
	if code >= 200 && code < 300 {
		t, err := asTableBytes(c, b)
		if err != nil {
			return err
		}
		if t != nil {
			return writeJSON(c, code, t)
		}
	}
	return writeBody(c, code, b)
}

func writeBody(c echo.Context, code int, b []byte) error {
	c.Response().Header().Set(echo.HeaderContentLength, strconv.Itoa(len(b)))
	return c.Blob(code, echo.MIMEApplicationJSON, b)
}
