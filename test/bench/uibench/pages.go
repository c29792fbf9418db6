package main

import (
	"fmt"
	"log"
	"strings"
	"time"
)

// pageResult is a page and what its requests measured.
type pageResult struct {
	name, path string
	// goal marks the pages the time goal is about.
	goal bool
	// check says whether a page's HTML shows what it should.
	check func(html string) (string, bool)

	times   []time.Duration
	errors  int
	last    response
	decoded int
	checked string
	ok      bool
}

// measurePages asks for the pages in turn, warm rounds and then n
// measured ones, so that every page sees the same state of the machine;
// then checks the last answer of each.
func measurePages(c *client, pages []*pageResult, warm, n int) {
	for round := range warm + n {
		for _, p := range pages {
			r, err := c.get(p.path)
			if err == nil && r.code != 200 {
				err = fmt.Errorf("status %d: %.200s", r.code, r.body)
			}
			if err != nil {
				if p.errors++; p.errors == 1 {
					log.Printf("GET %s: %v", p.path, err)
				}
				continue
			}
			p.last = r
			if round >= warm {
				p.times = append(p.times, r.took)
			}
		}
	}
	for _, p := range pages {
		if p.last.code != 200 {
			p.checked = "no answer"
			continue
		}
		html, err := p.last.decoded()
		if err != nil {
			p.checked = err.Error()
			continue
		}
		p.decoded = len(html)
		p.checked, p.ok = p.check(string(html))
	}
}

// rowsCheck checks that a package page lists packages: want of them, or
// any number if want is 0.
func rowsCheck(want int) func(string) (string, bool) {
	return func(html string) (string, bool) {
		n := strings.Count(html, `<th scope="row">`)
		if want == 0 {
			return fmt.Sprintf("%d packages listed", n), n > 0
		}
		return fmt.Sprintf("%d package listed (want %d)", n, want), n == want
	}
}

// filesCheck checks that a revision page shows its files.
func filesCheck(want int) func(string) (string, bool) {
	return func(html string) (string, bool) {
		n := strings.Count(html, `<article class="file"`)
		return fmt.Sprintf("%d files shown (want %d)", n, want), n == want
	}
}

// containsCheck checks that a page names something.
func containsCheck(s string) func(string) (string, bool) {
	return func(html string) (string, bool) {
		if strings.Contains(html, s) {
			return fmt.Sprintf("lists `%s`", s), true
		}
		return fmt.Sprintf("does not name `%s`", s), false
	}
}
