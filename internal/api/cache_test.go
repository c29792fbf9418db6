package api

import (
	"bytes"
	"fmt"
	"testing"
)

func TestRevisionCache(t *testing.T) {
	c := newRevisionCache(10 * entryCost("ns/rev-00", make([]byte, 100)))
	doc := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i%26)}, 100) }
	key := func(i int) string { return fmt.Sprintf("ns/rev-%02d", i) }

	c.put(1, key(1), doc(1))
	if b, ok := c.get(1, key(1)); !ok || !bytes.Equal(b, doc(1)) {
		t.Fatalf("get after put: %q, %v", b, ok)
	}
	if _, ok := c.get(2, key(1)); ok {
		t.Error("an entry of generation 1 answered in generation 2")
	}

	// A read that began in a generation that has since ended is not kept.
	c.put(2, key(2), doc(2))
	c.put(1, key(3), doc(3))
	if _, ok := c.get(2, key(3)); ok {
		t.Error("an entry read in an ended generation was kept")
	}
	if _, ok := c.get(2, key(1)); ok {
		t.Error("generation 2 began without dropping generation 1's entries")
	}

	// Within the budget: ten entries fit, the eleventh replaces one.
	for i := range 30 {
		c.put(3, key(i), doc(i))
		if c.bytes > c.max {
			t.Fatalf("after %d puts the cache holds %d bytes over its budget of %d", i+1, c.bytes, c.max)
		}
	}
	if len(c.m) != 10 {
		t.Errorf("the cache holds %d entries, want the 10 its budget allows", len(c.m))
	}
	if b, ok := c.get(3, key(29)); !ok || !bytes.Equal(b, doc(29)) {
		t.Errorf("the last entry put is missing: %q, %v", b, ok)
	}

	// Replacing an entry does not count it twice.
	before := c.bytes
	c.put(3, key(29), doc(29))
	if c.bytes != before {
		t.Errorf("replacing an entry changed the size from %d to %d", before, c.bytes)
	}

	// An entry bigger than the whole budget is not kept and evicts nothing.
	c.put(3, "ns/huge", make([]byte, c.max))
	if _, ok := c.get(3, "ns/huge"); ok || len(c.m) != 10 {
		t.Errorf("an entry over the budget: kept %v, %d entries left", ok, len(c.m))
	}
}
