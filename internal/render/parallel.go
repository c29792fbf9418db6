package render

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// eachParallel calls fn(i) for each i in [0, n) on up to GOMAXPROCS
// goroutines and returns the error of the lowest i that failed. The calls
// must touch disjoint data: a render decodes and writes files this way,
// one file per call, and runs set-namespace, set-labels and
// set-annotations, one resource per call.
func eachParallel(n int, fn func(i int) error) error {
	workers := min(runtime.GOMAXPROCS(0), n)
	errs := make([]error, n)
	if workers <= 1 {
		for i := range n {
			if errs[i] = fn(i); errs[i] != nil {
				return errs[i]
			}
		}
		return nil
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				errs[i] = fn(i)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
