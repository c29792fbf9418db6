package validate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"

	"golang.org/x/sync/semaphore"

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
// validation is counted its Cost; one that would take the total past the
// budget waits for others to finish, and one whose cost alone is more than
// the budget is refused at once. A Budget is safe for concurrent use.
type Budget struct {
	total int64
	sem   *semaphore.Weighted
}

// NewBudget returns a budget of total bytes.
func NewBudget(total int64) (*Budget, error) {
	if total < MinCost {
		return nil, fmt.Errorf("validation memory budget of %s is less than the %s one validation needs at least", FormatBytes(total), FormatBytes(MinCost))
	}
	return &Budget{total: total, sem: semaphore.NewWeighted(total)}, nil
}

// Total is the budget's size in bytes.
func (b *Budget) Total() int64 { return b.total }

// Acquire waits until cost bytes of the budget are free and takes them, or
// until ctx is done. A cost larger than the budget is refused at once with
// an error wrapping ErrOverBudget.
func (b *Budget) Acquire(ctx context.Context, cost int64) error {
	if cost > b.total {
		return fmt.Errorf("%w: validating it needs about %s of memory, more than the whole budget of %s (--validation-memory)",
			ErrOverBudget, FormatBytes(cost), FormatBytes(b.total))
	}
	if err := b.sem.Acquire(ctx, cost); err != nil {
		return fmt.Errorf("waiting for validation memory: %w", err)
	}
	return nil
}

// Release gives back what Acquire took.
func (b *Budget) Release(cost int64) { b.sem.Release(cost) }

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
