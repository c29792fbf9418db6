package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// client asks as a browser does, one request at a time on one keep-alive
// connection, with Accept-Encoding: gzip. Its transport leaves bodies as
// sent (DisableCompression) and counts the bytes it reads off the
// connection, so that sizes are the wire's.
type client struct {
	base, token string
	http        *http.Client
	wire        atomic.Int64
}

// newClient is a client of base sending the bearer token ("" for none);
// it does not follow redirects, so that they can be seen.
func newClient(base, token string) *client {
	c := &client{base: base, token: token}
	d := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{
		DisableCompression:  true,
		MaxIdleConnsPerHost: 1,
		MaxConnsPerHost:     1,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &countingConn{Conn: conn, read: &c.wire}, nil
		},
	}
	c.http = &http.Client{Transport: tr, Timeout: 5 * time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return c
}

// countingConn counts the bytes read from a connection.
type countingConn struct {
	net.Conn
	read *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// response is an answer as the client saw it.
type response struct {
	code   int
	header http.Header
	// body is as sent: compressed if it has a Content-Encoding.
	body []byte
	// wire is the bytes read off the connection for it: status line,
	// headers, and body with its framing.
	wire int64
	// took is from sending the request to having read the whole answer.
	took time.Duration
}

// encoding is the answer's Content-Encoding, "none" if it has none.
func (r response) encoding() string {
	if e := r.header.Get("Content-Encoding"); e != "" {
		return e
	}
	return "none"
}

// decoded is the body with its Content-Encoding undone (gzip only).
func (r response) decoded() ([]byte, error) {
	if !strings.EqualFold(r.header.Get("Content-Encoding"), "gzip") {
		return r.body, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(r.body))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

func (c *client) get(path string) (response, error) {
	req, err := http.NewRequest(http.MethodGet, c.base+path, nil)
	if err != nil {
		return response{}, err
	}
	return c.do(req)
}

// do sends a request as a browser would, with the client's token.
func (c *client) do(req *http.Request) (response, error) {
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("Accept", "text/html,*/*")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	before := c.wire.Load()
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return response{}, err
	}
	body, err := io.ReadAll(resp.Body)
	took := time.Since(start)
	resp.Body.Close()
	return response{code: resp.StatusCode, header: resp.Header, body: body, wire: c.wire.Load() - before, took: took}, err
}
