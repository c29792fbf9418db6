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

const mib = 1 << 20

// take acquires cost with a context already done: it succeeds only if the
// budget grants the cost at once.
func take(b *Budget, cost int64) (func(), bool) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	release, err := b.Acquire(ctx, cost)
	return release, err == nil
}

// wait starts acquiring cost and returns once the acquisition is queued,
// with the channel its result arrives on.
func wait(t *testing.T, ctx context.Context, b *Budget, cost int64) <-chan func() {
	t.Helper()
	b.mu.Lock()
	n := len(b.queue)
	b.mu.Unlock()
	got := make(chan func(), 1)
	go func() {
		release, err := b.Acquire(ctx, cost)
		if err != nil {
			release = nil
		}
		got <- release
	}()
	for {
		b.mu.Lock()
		queued := len(b.queue) > n
		b.mu.Unlock()
		if queued {
			return got
		}
		runtime.Gosched()
	}
}

// whole reports whether the budget is whole and nothing waits.
func whole(b *Budget) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used == 0 && b.laneUsed == 0 && len(b.queue) == 0
}

func TestBudgetWaitsForRelease(t *testing.T) {
	b := newBudget(t, 8*mib)
	first, ok := take(b, 6*mib)
	if !ok {
		t.Fatal("6 of 8 MiB not granted at once")
	}
	got := wait(t, context.Background(), b, 4*mib)
	// 4 MiB is more than the lane (a quarter, 2 MiB): it waits in order,
	// and so does one arriving after it that would not fit in the lane.
	if _, ok := take(b, 3*mib); ok {
		t.Fatal("3 MiB overtook a waiter without fitting in the lane")
	}
	first()
	first() // a second call gives nothing back
	second := <-got
	if second == nil {
		t.Fatal("the waiter was not granted once the budget was released")
	}
	second()
	if !whole(b) {
		t.Fatal("the budget is not whole again once everything was released")
	}
}

// TestBudgetSmallOvertakeLarge: a large validation waiting behind another
// does not hold up small ones that fit now, up to a quarter of the budget;
// and once those before it finish it starts, the small ones still running.
func TestBudgetSmallOvertakeLarge(t *testing.T) {
	b := newBudget(t, 64*mib) // the lane: 16 MiB
	ctx := context.Background()
	running, _ := take(b, 40*mib)
	large := wait(t, ctx, b, 40*mib)
	small1, ok := take(b, 4*mib)
	if !ok {
		t.Fatal("4 MiB that fits now waits behind a large validation")
	}
	small2, ok := take(b, 12*mib)
	if !ok {
		t.Fatal("12 MiB that fits in the lane waits behind a large validation")
	}
	// The lane is full: another small one waits in order, behind the
	// large one.
	small3 := wait(t, ctx, b, 4*mib)
	select {
	case <-small3:
		t.Fatal("a small validation was granted beyond the lane")
	default:
	}
	// The one before the large one ends: the large one starts beside the
	// lane still full, then the small one behind it.
	running()
	l := <-large
	if l == nil {
		t.Fatal("the large validation was not granted")
	}
	s3 := <-small3
	if s3 == nil {
		t.Fatal("the small validation behind it was not granted")
	}
	for _, r := range []func(){l, s3, small1, small2} {
		r()
	}
	if !whole(b) {
		t.Fatal("the budget is not whole again once everything was released")
	}
}

// TestBudgetLaneKeepsFirstWaiter: while the first waiter waits, the lane
// is all small validations may take ahead of it, however many arrive.
func TestBudgetLaneKeepsFirstWaiter(t *testing.T) {
	b := newBudget(t, 64*mib)
	running, _ := take(b, 30*mib)
	large := wait(t, context.Background(), b, 48*mib)
	for range 100 {
		r, ok := take(b, 8*mib)
		if !ok {
			t.Fatal("a small validation that fits in the lane waits")
		}
		r2, ok := take(b, 8*mib)
		if !ok {
			t.Fatal("a second small validation that fits in the lane waits")
		}
		if _, ok := take(b, 1); ok {
			t.Fatal("a small validation was granted beyond the lane")
		}
		r()
		r2()
	}
	held, _ := take(b, 16*mib)
	running()
	// 16 MiB held through the lane, 48 MiB for the large one: it fits.
	l := <-large
	if l == nil {
		t.Fatal("the large validation was not granted once the lane was all that was held")
	}
	l()
	held()
	if !whole(b) {
		t.Fatal("the budget is not whole")
	}
}

// TestBudgetStrictOrderForHuge: a first waiter needing more than three
// quarters of the budget could not start beside a full lane: nothing
// overtakes it.
func TestBudgetStrictOrderForHuge(t *testing.T) {
	b := newBudget(t, 64*mib)
	running, _ := take(b, 20*mib)
	huge := wait(t, context.Background(), b, 50*mib)
	if _, ok := take(b, 4*mib); ok {
		t.Fatal("a small validation overtook one needing more than three quarters of the budget")
	}
	running()
	h := <-huge
	if h == nil {
		t.Fatal("not granted")
	}
	h()
}

func TestBudgetRefusesWhatNeverFits(t *testing.T) {
	b := newBudget(t, 8*mib)
	_, err := b.Acquire(context.Background(), 8*mib+1)
	if !errors.Is(err, ErrOverBudget) {
		t.Fatalf("got %v, want ErrOverBudget", err)
	}
	if !strings.Contains(err.Error(), "8.0 MiB (--validation-memory)") {
		t.Errorf("message %q does not name the budget and its flag", err)
	}
	if !whole(b) {
		t.Fatal("a refusal took part of the budget")
	}
}

// TestBudgetCancelledWait: a wait cut short takes nothing, and those
// behind it that fit once it is gone are granted.
func TestBudgetCancelledWait(t *testing.T) {
	b := newBudget(t, 64*mib)
	running, _ := take(b, 40*mib)
	ctx, cancel := context.WithCancel(context.Background())
	first := wait(t, ctx, b, 40*mib)
	second := wait(t, context.Background(), b, 20*mib) // more than the lane
	cancel()
	if r := <-first; r != nil {
		t.Fatal("a cancelled wait was granted")
	}
	s := <-second
	if s == nil {
		t.Fatal("the waiter behind a cancelled one was not granted")
	}
	s()
	running()
	if !whole(b) {
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
		if !whole(budget) {
			t.Fatal("the validation kept part of the budget")
		}
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
	all, err := budget.Acquire(ctx, budget.Total())
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	r = e.Validate(cctx, Package{Path: "p", FS: good})
	if len(r.Results) != 1 || !strings.Contains(r.Results[0].Message, "waiting for validation memory: context canceled") {
		t.Fatalf("got %q, want the wait cancelled", lines(r))
	}
	all()
}
