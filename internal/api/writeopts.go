package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode"

	"github.com/labstack/echo/v4"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	kjson "sigs.k8s.io/json"

	"github.com/pkgserver/pkgserver/internal/store"
)

// Values of the fieldValidation parameter, as kube-apiserver takes them.
const (
	fieldValidationStrict = "Strict"
	fieldValidationWarn   = "Warn"
	fieldValidationIgnore = "Ignore"
)

// maxFieldManagerLength bounds a field manager's name, as Kubernetes does.
const maxFieldManagerLength = 128

// writeOptions are the query parameters of a write.
type writeOptions struct {
	DryRun          bool   // dryRun=All
	FieldValidation string // "Strict", "Warn" or "Ignore"
	FieldManager    string // fieldManager, "" if not given
}

// parseWriteOptions reads the query parameters of a write as kube-apiserver
// does: dryRun takes only All (given once or more), fieldValidation one of
// Strict, Warn (the default) and Ignore, fieldManager a printable name of
// at most 128 characters. Anything else is answered 400.
func parseWriteOptions(c echo.Context) (writeOptions, error) {
	q := c.QueryParams()
	opts := writeOptions{FieldValidation: fieldValidationWarn}
	dry, err := parseDryRun(q["dryRun"])
	if err != nil {
		return writeOptions{}, err
	}
	opts.DryRun = dry
	switch fv := q["fieldValidation"]; {
	case len(fv) > 1:
		return writeOptions{}, badRequest("fieldValidation: given %d times: give it once", len(fv))
	case len(fv) == 1 && fv[0] != "":
		switch fv[0] {
		case fieldValidationStrict, fieldValidationWarn, fieldValidationIgnore:
			opts.FieldValidation = fv[0]
		default:
			return writeOptions{}, badRequest("fieldValidation: Unsupported value: %q: supported values: %q, %q, %q",
				fv[0], fieldValidationIgnore, fieldValidationStrict, fieldValidationWarn)
		}
	}
	switch fm := q["fieldManager"]; {
	case len(fm) > 1:
		return writeOptions{}, badRequest("fieldManager: given %d times: give it once", len(fm))
	case len(fm) == 1:
		if err := checkFieldManager(fm[0]); err != nil {
			return writeOptions{}, err
		}
		opts.FieldManager = fm[0]
	}
	return opts, nil
}

// parseDryRun reads the values of dryRun, from the query or from the
// DeleteOptions of a delete: none is a real write, All (once or more) a dry
// run, anything else refused.
func parseDryRun(values []string) (bool, error) {
	for _, v := range values {
		if v != metav1.DryRunAll {
			return false, badRequest("dryRun: Unsupported value: %q: supported values: %q", v, metav1.DryRunAll)
		}
	}
	return len(values) > 0, nil
}

// checkFieldManager refuses a field manager's name Kubernetes would refuse:
// longer than 128 characters, or with characters that are not printable.
func checkFieldManager(name string) error {
	if len(name) > maxFieldManagerLength {
		return badRequest("fieldManager: Too long: may not be more than %d bytes", maxFieldManagerLength)
	}
	if i := strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }); i >= 0 {
		return badRequest("fieldManager: Invalid value: %q: %s", name, fmt.Sprintf("invalid character at byte %d: only printable characters", i))
	}
	return nil
}

// deleteOptions are what a delete asks for, in its query and in the
// DeleteOptions of its body.
type deleteOptions struct {
	DryRun bool
	// ResourceVersion and UID are the preconditions: the object's current
	// ones, or 0 and "" for none.
	ResourceVersion int64
	UID             types.UID
}

// parseDeleteOptions reads a delete's options. kubectl and client-go send
// dryRun in the body's DeleteOptions, others in the query: either asks for
// a dry run (a dry run asked for is never made a real delete).
func parseDeleteOptions(c echo.Context) (deleteOptions, error) {
	var out deleteOptions
	q, err := parseDryRun(c.QueryParams()["dryRun"])
	if err != nil {
		return out, err
	}
	out.DryRun = q
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, MaxBodyBytes+1))
	if err != nil {
		return out, badRequest("read body: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return out, nil
	}
	var opts metav1.DeleteOptions
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if len(body) > MaxBodyBytes || dec.Decode(&opts) != nil || dec.More() {
		return out, badRequest("the body of a delete is DeleteOptions")
	}
	if opts.Kind != "" && opts.Kind != "DeleteOptions" {
		return out, badRequest("the body of a delete is DeleteOptions, not %s", opts.Kind)
	}
	b, err := parseDryRun(opts.DryRun)
	if err != nil {
		return out, err
	}
	out.DryRun = out.DryRun || b
	if p := opts.Preconditions; p != nil {
		if p.ResourceVersion != nil {
			if out.ResourceVersion, err = resourceVersion(*p.ResourceVersion); err != nil {
				return out, err
			}
		}
		if p.UID != nil {
			out.UID = *p.UID
		}
	}
	return out, nil
}

// decodeBody reads the JSON body of a write into into, as kube-apiserver
// decodes one: field names match case-sensitively, and unknown or
// duplicate fields are refused, reported or dropped as opts.FieldValidation
// says (see checkFields). kind names the object for messages.
func decodeBody(c echo.Context, into any, limit int, kind string, opts writeOptions) error {
	var raw json.RawMessage
	if err := decodeLimit(c, &raw, limit); err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(raw, into)
	if err != nil {
		return badRequest("invalid JSON body: %v", err)
	}
	return checkFields(c, strict, kind, opts)
}

// decodeWrite begins a write whose body is one object of type T: the
// caller must hold role in namespace ns (checked before the body is read),
// and the write options and the body (at most limit bytes, decoded as
// decodeBody does) are read.
func decodeWrite[T any](c echo.Context, ns string, role store.Role, kind string, limit int) (*T, writeOptions, error) {
	if err := authorize(c, ns, role); err != nil {
		return nil, writeOptions{}, err
	}
	opts, err := parseWriteOptions(c)
	if err != nil {
		return nil, opts, err
	}
	var obj T
	if err := decodeBody(c, &obj, limit, kind, opts); err != nil {
		return nil, opts, err
	}
	return &obj, opts, nil
}

// writeResult answers a write: its error, else the object it wrote with
// the status given.
func writeResult[T any](c echo.Context, status int, out *T, err error) error {
	if err != nil {
		return err
	}
	return writeJSON(c, status, out)
}

// checkFields answers the unknown and duplicate fields of a body (errors
// of sigs.k8s.io/json's strict decoding) as kube-apiserver does under each
// fieldValidation: Strict refuses the write (400), Warn accepts it with a
// Warning header for each, Ignore accepts it silently.
func checkFields(c echo.Context, strict []error, kind string, opts writeOptions) error {
	if len(strict) == 0 {
		return nil
	}
	switch opts.FieldValidation {
	case fieldValidationStrict:
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = e.Error()
		}
		return badRequest("%s in version %q cannot be handled as a %s: strict decoding error: %s", kind, version, kind, strings.Join(msgs, ", "))
	case fieldValidationIgnore:
		return nil
	}
	for _, e := range strict {
		c.Response().Header().Add("Warning", warningHeader(e.Error()))
	}
	return nil
}

// warningHeader is the value of a Warning header as kube-apiserver writes
// one, which kubectl prints and client-go hands to its warning handler:
// code 299, no agent, the text quoted.
func warningHeader(text string) string {
	h, err := utilnet.NewWarningHeader(299, "-", text)
	if err != nil { // only for a code or an agent out of bounds: not these
		return `299 - "` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(text) + `"`
	}
	return h
}
