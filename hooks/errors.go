package hooks

import "errors"

// ErrTimeout is the error of a decision that ran out of time: its context
// ended before the push was decided. What was read after that failed for
// that reason alone, so no finding of it is reported.
var ErrTimeout = errors.New("the push could not be decided in time")
