package render

import (
	"errors"
	"fmt"
)

// ErrNotPackage is returned for a directory without a Kptfile.
var ErrNotPackage = errors.New("not a kpt package: no Kptfile")

// ErrNoRuntime is returned for a function image no built-in function serves:
// pkgserver runs functions in process only, with no container runtime.
var ErrNoRuntime = errors.New("no built-in function serves this image and pkgserver runs no container runtime")

// ErrExecNotAllowed is returned for a pipeline with an `exec:` function when
// Options do not allow exec functions.
var ErrExecNotAllowed = errors.New("exec functions are not allowed on this server")

// ErrUnsupported is returned for a functionConfig asking a built-in function
// for something this renderer does not implement.
var ErrUnsupported = errors.New("not supported by the in-process renderer")

// FunctionError is a pipeline step that failed: the function returned an
// error or results of severity error. The package was left untouched.
type FunctionError struct {
	// Image is the function's image, or for an exec function its exec
	// command.
	Image string
	// Results holds the results of every function run up to and including
	// the one that failed, as kpt prints them.
	Results *ResultList
	// Err is what the function reported.
	Err error
}

func (e *FunctionError) Error() string {
	return fmt.Sprintf("function %q failed: %v", e.Image, e.Err)
}

func (e *FunctionError) Unwrap() error { return e.Err }
