package validate

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/pkgserver/pkgserver/internal/krm"
	"github.com/pkgserver/pkgserver/internal/result"
)

func newBudget(t *testing.T, total int64) *Budget {
	t.Helper()
	b, err := NewBudget(total)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBudgetWaitsForRelease(t *testing.T) {
	b := newBudget(t, 8<<20)
	ctx := context.Background()
	if err := b.Acquire(ctx, 6<<20); err != nil {
		t.Fatal(err)
	}
	got := make(chan error)
	go func() { got <- b.Acquire(ctx, 4<<20) }()
	// Once the second waits (6 of 8 MiB are taken), a third that would fit
	// does not overtake it: first come, first served.
	for b.sem.TryAcquire(1 << 20) {
		b.Release(1 << 20)
		runtime.Gosched()
	}
	select {
	case err := <-got:
		t.Fatalf("granted 4 MiB while 6 of 8 were taken (%v)", err)
	default:
	}
	b.Release(6 << 20)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	b.Release(4 << 20)
	if !b.sem.TryAcquire(8 << 20) {
		t.Fatal("the budget is not whole again once everything was released")
	}
}

func TestBudgetRefusesWhatNeverFits(t *testing.T) {
	b := newBudget(t, 8<<20)
	err := b.Acquire(context.Background(), 8<<20+1)
	if !errors.Is(err, ErrOverBudget) {
		t.Fatalf("got %v, want ErrOverBudget", err)
	}
	if !strings.Contains(err.Error(), "8.0 MiB (--validation-memory)") {
		t.Errorf("message %q does not name the budget and its flag", err)
	}
	if !b.sem.TryAcquire(8 << 20) {
		t.Fatal("a refusal took part of the budget")
	}
}

func TestBudgetCancelledWait(t *testing.T) {
	b := newBudget(t, 8<<20)
	if err := b.Acquire(context.Background(), 8<<20); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error)
	go func() { got <- b.Acquire(ctx, 1<<20) }()
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	b.Release(8 << 20)
	if !b.sem.TryAcquire(8 << 20) {
		t.Fatal("a cancelled wait kept part of the budget")
	}
}

func TestNewBudgetTooSmall(t *testing.T) {
	if _, err := NewBudget(MinCost - 1); err == nil {
		t.Fatal("a budget smaller than one validation's least cost was accepted")
	}
}

func TestCost(t *testing.T) {
	limits := krm.DefaultLimits()
	big := make([]byte, 1<<20)
	tests := []struct {
		name      string
		p         Package
		cost, siz int64
	}{
		{"small package costs the least", Package{FS: fstest.MapFS{"Kptfile": {Data: []byte(kptfile)}}}, MinCost, int64(len(kptfile))},
		{"one large file costs its documents", Package{FS: fstest.MapFS{"a.yaml": {Data: big}}}, BytesPerFileByte << 20, 1 << 20},
		{"many files cost their total", Package{FS: fstest.MapFS{"a.yaml": {Data: big}, "b.yaml": {Data: big}, "c.yaml": {Data: big}, "d.yaml": {Data: big}}}, BytesPerYAMLByte * 4 << 20, 4 << 20},
		{"the previous revision counts", Package{FS: fstest.MapFS{"a.yaml": {Data: big}, "b.yaml": {Data: big}},
			Previous: fstest.MapFS{"a.yaml": {Data: big}, "b.yaml": {Data: big}}}, BytesPerYAMLByte * 4 << 20, 4 << 20},
		{"a file above the file limit is not read", Package{FS: fstest.MapFS{"a.yaml": {Data: make([]byte, limits.FileBytes+1)}}}, MinCost, 0},
		{".git is not read", Package{FS: fstest.MapFS{".git/objects/x": {Data: big}}}, MinCost, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cost, size := Cost(tt.p, limits)
			if cost != tt.cost || size != tt.siz {
				t.Errorf("Cost = %d, %d; want %d, %d", cost, size, tt.cost, tt.siz)
			}
		})
	}
	// The package limit caps what is counted: reading stops there.
	limits.PackageBytes = 3 << 20
	fsys := fstest.MapFS{"a.yaml": {Data: big}, "b.yaml": {Data: big}, "c.yaml": {Data: big}, "d.yaml": {Data: big}}
	if _, size := Cost(Package{FS: fsys}, limits); size != 3<<20 {
		t.Errorf("size %d, want the package limit %d", size, 3<<20)
	}
}

// TestValidateWithBudget: the engine takes its share of the budget for each
// validation and gives it back on every path, and refuses a package that
// can never fit with a finding saying so.
func TestValidateWithBudget(t *testing.T) {
	budget := newBudget(t, 64<<20)
	e := engine(t, Config{NoDefaultPolicies: true})
	e.budget = budget
	ctx := context.Background()
	good := pkg(map[string]string{"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"})
	bad := pkg(map[string]string{"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: [x]\n", "x.yaml": ": :"})
	for _, p := range []fstest.MapFS{good, bad} {
		want := e.validate(ctx, Package{Path: "p", FS: p})
		got := e.Validate(ctx, Package{Path: "p", FS: p})
		if strings.Join(lines(got), "\n") != strings.Join(lines(want), "\n") {
			t.Errorf("with a budget: %q, without: %q", lines(got), lines(want))
		}
		if !budget.sem.TryAcquire(budget.Total()) {
			t.Fatal("the validation kept part of the budget")
		}
		budget.Release(budget.Total())
	}

	huge := fstest.MapFS{"Kptfile": {Data: []byte(kptfile)}, "a.yaml": {Data: make([]byte, 2<<20)}}
	r := e.Validate(ctx, Package{Path: "p", FS: huge})
	if len(r.Results) != 1 || r.Results[0].Severity != result.Error || r.Results[0].Check != CheckMemory {
		t.Fatalf("got %q, want one memory error", lines(r))
	}
	for _, want := range []string{fmt.Sprintf("package of 2.0 MiB (%d bytes) not validated", 2<<20+len(kptfile)), "128.0 MiB of memory", "64.0 MiB (--validation-memory)"} {
		if !strings.Contains(r.Results[0].Message, want) {
			t.Errorf("message %q does not say %q", r.Results[0].Message, want)
		}
	}

	// A validation waiting for the budget gives up with its context.
	if err := budget.Acquire(ctx, budget.Total()); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	r = e.Validate(cctx, Package{Path: "p", FS: good})
	if len(r.Results) != 1 || !strings.Contains(r.Results[0].Message, "waiting for validation memory: context canceled") {
		t.Fatalf("got %q, want the wait cancelled", lines(r))
	}
	budget.Release(budget.Total())
}
