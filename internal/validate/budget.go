package validate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sync"

	"github.com/pkgserver/pkgserver/internal/krm"
	"github.com/pkgserver/pkgserver/internal/result"
)

// BytesPerYAMLByte is the memory a validation is counted to need per byte of
// the package it reads, measured on the worst shapes of package (see
// docs/validation.md): the files' bytes, kept through the validation, and
// the nodes and objects of the documents being checked.
const BytesPerYAMLByte = 20

// BytesPerFileByte is the memory a validation is counted to need per byte
// of its largest file: a document is read into nodes and an object, and
// checked against its schema, all at once, and a document can be as large
// as its file. A file of short keys costs about 64 times its size.
const BytesPerFileByte = 64

// MinCost is the least memory a validation is counted to need, whatever
// the size of its package.
const MinCost = 4 << 20

// DefaultBudget is the memory budget of the validations a server runs at
// once, unless configured otherwise.
const DefaultBudget = 1 << 30

// ErrOverBudget is the error of a package that needs more memory to
// validate than the whole budget.
var ErrOverBudget = errors.New("package too large for the validation memory budget")

// Budget bounds the memory of the validations running at once. Each
// validation is counted its Cost; one whose cost alone is more than the
// budget is refused at once, and one that would take the total past the
// budget waits.
//
// Waiters are served in order, except that a quarter of the budget is a
// lane for small validations (those costing at most that quarter): while
// the first waiter waits, a validation behind it, or arriving, that fits
// now proceeds through the lane ahead of it, as long as the validations in
// the lane hold at most the quarter together. A large package (up to the
// largest the limits allow, counted 640 MiB of the default 1 GiB) waiting
// behind another so does not hold up pushes of small ones, which validate
// in moments, and it is not starved by them: those admitted in order before
// it only finish, and the lane holds no more than it leaves free. A first
// waiter that needs more than three quarters of the budget is served
// strictly in order, as it could not start beside a full lane. A Budget is
// safe for concurrent use.
type Budget struct {
	total, lane int64

	mu       sync.Mutex
	used     int64     // held by all validations running
	laneUsed int64     // held by those admitted through the lane
	queue    []*waiter // in order of arrival
}

// waiter is a validation waiting for its cost, or granted it once ready is
// closed.
type waiter struct {
	cost   int64
	ready  chan struct{}
	inLane bool // admitted through the lane
}

// NewBudget returns a budget of total bytes.
func NewBudget(total int64) (*Budget, error) {
	if total < MinCost {
		return nil, fmt.Errorf("validation memory budget of %s is less than the %s one validation needs at least", FormatBytes(total), FormatBytes(MinCost))
	}
	return &Budget{total: total, lane: total / 4}, nil
}

// Total is the budget's size in bytes.
func (b *Budget) Total() int64 { return b.total }

// Acquire waits until cost bytes of the budget may be taken (see Budget)
// and takes them, or until ctx is done, and returns what gives them back;
// calling it more than once gives them back once. A cost larger than the
// budget is refused at once with an error wrapping ErrOverBudget. A cost
// that can be taken at once is taken even if ctx is done.
func (b *Budget) Acquire(ctx context.Context, cost int64) (release func(), err error) {
	if cost > b.total {
		return nil, fmt.Errorf("%w: validating it needs about %s of memory, more than the whole budget of %s (--validation-memory)",
			ErrOverBudget, FormatBytes(cost), FormatBytes(b.total))
	}
	w := &waiter{cost: cost, ready: make(chan struct{})}
	b.mu.Lock()
	b.queue = append(b.queue, w)
	b.grant()
	b.mu.Unlock()
	select {
	case <-w.ready:
		return b.releaser(w), nil
	default:
	}
	select {
	case <-w.ready:
		return b.releaser(w), nil
	case <-ctx.Done():
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-w.ready:
		// Granted as the wait was cut short: give it back.
		b.give(w)
	default:
		for i, q := range b.queue {
			if q == w {
				b.queue = append(b.queue[:i], b.queue[i+1:]...)
				break
			}
		}
		// Those behind it may fit now.
		b.grant()
	}
	return nil, fmt.Errorf("waiting for validation memory: %w", ctx.Err())
}

func (b *Budget) releaser(w *waiter) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.give(w)
		})
	}
}

// give returns what w took and admits those that fit now. b.mu is held.
func (b *Budget) give(w *waiter) {
	b.used -= w.cost
	if w.inLane {
		b.laneUsed -= w.cost
	}
	b.grant()
}

// grant admits waiters in order while the first fits, then, if the first
// still waits and leaves the lane free, those behind it that fit now and
// in what is left of the lane. b.mu is held.
func (b *Budget) grant() {
	for len(b.queue) > 0 && b.used+b.queue[0].cost <= b.total {
		b.admit(b.queue[0], false)
		b.queue = b.queue[1:]
	}
	if len(b.queue) == 0 || b.queue[0].cost > b.total-b.lane {
		return
	}
	kept := b.queue[:1]
	for _, w := range b.queue[1:] {
		if b.laneUsed+w.cost <= b.lane && b.used+w.cost <= b.total {
			b.admit(w, true)
			continue
		}
		kept = append(kept, w)
	}
	clear(b.queue[len(kept):])
	b.queue = kept
}

func (b *Budget) admit(w *waiter, inLane bool) {
	b.used += w.cost
	if inLane {
		b.laneUsed += w.cost
	}
	w.inLane = inLane
	close(w.ready)
}

// Cost is the memory validating a package is counted to need, and the size
// of the package: the size of its files, and of its previous revision's, as
// their directory entries tell before anything is read (capped at what the
// limits let a validation read), times BytesPerYAMLByte, or its largest
// file's size times BytesPerFileByte if more, and at least MinCost.
func Cost(p Package, limits krm.Limits) (cost, size int64) {
	size, largest := packageBytes(p.FS, limits)
	if p.Previous != nil {
		prevSize, prevLargest := packageBytes(p.Previous, limits)
		size += prevSize
		largest = max(largest, prevLargest)
	}
	return max(size*BytesPerYAMLByte, largest*BytesPerFileByte, MinCost), size
}

// packageBytes sums the sizes of a package's regular files, as far as the
// limits let a validation read them: a file above the file limit is not
// read, and reading stops at the package limit.
func packageBytes(fsys fs.FS, limits krm.Limits) (total, largest int64) {
	_ = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // the validation reports it
		}
		if d.IsDir() && path.Base(p) == ".git" {
			return fs.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if size := info.Size(); size <= limits.FileBytes {
			total += size
			largest = max(largest, size)
		}
		if total >= limits.PackageBytes {
			total = limits.PackageBytes
			return fs.SkipAll
		}
		return nil
	})
	return total, largest
}

// refused is the report of a package not validated because the budget
// refused it or the wait for it was cut short.
func refused(pkgPath string, size int64, err error) *Report {
	err = fmt.Errorf("package of %s (%d bytes) not validated: %w", FormatBytes(size), size, err)
	return &Report{Packages: 1, Results: []result.Result{{
		Severity: result.Error, Check: CheckMemory, Message: err.Error(), File: &result.File{Path: pkgPath},
	}}}
}

// CheckMemory is the check of a package that was not validated for want of
// memory.
const CheckMemory = "memory"

// FormatBytes writes a size in bytes in binary units, as the
// --validation-memory flag reads them.
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
