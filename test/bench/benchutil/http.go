package benchutil

import (
	"bufio"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ReadResponse reads one HTTP/1.1 answer from a keep-alive connection and
// returns its status code, discarding the body (of a length, or chunked).
// The load generators speak raw HTTP so that the client costs less CPU than
// the server it measures.
func ReadResponse(r *bufio.Reader) (int, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !strings.HasPrefix(string(line), "HTTP/1.1 ") {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	code, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, err
	}
	length, chunked := -1, false
	for {
		h, err := r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		hs := strings.TrimRight(string(h), "\r\n")
		if hs == "" {
			break
		}
		name, value, _ := strings.Cut(hs, ":")
		switch strings.ToLower(name) {
		case "content-length":
			if length, err = strconv.Atoi(strings.TrimSpace(value)); err != nil {
				return 0, err
			}
		case "transfer-encoding":
			chunked = strings.Contains(strings.ToLower(value), "chunked")
		}
	}
	switch {
	case chunked:
		for {
			sl, err := r.ReadSlice('\n')
			if err != nil {
				return 0, err
			}
			size, err := strconv.ParseInt(strings.TrimSpace(strings.SplitN(string(sl), ";", 2)[0]), 16, 64)
			if err != nil {
				return 0, err
			}
			if _, err := r.Discard(int(size) + 2); err != nil {
				return 0, err
			}
			if size == 0 {
				return code, nil
			}
		}
	case length >= 0:
		_, err := r.Discard(length)
		return code, err
	}
	return 0, errors.New("an answer without a length")
}
