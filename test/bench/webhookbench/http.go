package main

import (
	"bufio"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkgserver/pkgserver/test/bench/benchutil"
)

// delivery is one signed webhook request, written out in full before the
// burst so that sending it costs the load process a single write.
type delivery struct {
	id  string
	raw []byte
}

// newDelivery signs body as GitHub does and frames the request.
func newDelivery(host, path, secret, event string, body []byte) delivery {
	id := newGUID()
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	head := "POST " + path + " HTTP/1.1\r\n" +
		"Host: " + host + "\r\n" +
		"User-Agent: GitHub-Hookshot/bench\r\n" +
		"Accept: */*\r\n" +
		"Content-Type: application/json\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n" +
		"X-GitHub-Event: " + event + "\r\n" +
		"X-GitHub-Delivery: " + id + "\r\n" +
		"X-GitHub-Hook-ID: 400000001\r\n" +
		"X-GitHub-Hook-Installation-Target-Type: repository\r\n" +
		"X-GitHub-Hook-Installation-Target-ID: 123456789\r\n" +
		"X-Hub-Signature-256: sha256=" + hex.EncodeToString(mac.Sum(nil)) + "\r\n\r\n"
	return delivery{id: id, raw: append([]byte(head), body...)}
}

// newGUID is a random version-4 UUID, the form of GitHub's delivery ids.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// burstResult is what sending a list of deliveries gave: the status code
// and the answer time of each (code 0: a transport error).
type burstResult struct {
	codes   []int
	times   []time.Duration
	elapsed time.Duration
	errs    int
}

func (r burstResult) count(code int) int {
	n := 0
	for _, c := range r.codes {
		if c == code {
			n++
		}
	}
	return n
}

// percentiles are the p50, p99 and max answer times.
func (r burstResult) percentiles() (p50, p99, maxT time.Duration) {
	s := slices.Clone(r.times)
	slices.Sort(s)
	if len(s) == 0 {
		return 0, 0, 0
	}
	return s[len(s)/2], s[len(s)*99/100], s[len(s)-1]
}

// send delivers ds as fast as the server answers, over conns keep-alive
// connections, each taking the next delivery when its answer came. It
// speaks HTTP/1.1 on raw connections, as wrk does, rather than through
// net/http's client: the load shares the machine with the server.
func send(host string, ds []delivery, conns int) burstResult {
	res := burstResult{codes: make([]int, len(ds)), times: make([]time.Duration, len(ds))}
	var next atomic.Int64
	var errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var rc *rawConn
			defer func() {
				if rc != nil {
					rc.c.Close()
				}
			}()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(ds) {
					return
				}
				t := time.Now()
				var err error
				if rc == nil {
					rc, err = dial(host)
				}
				code := 0
				if err == nil {
					code, err = rc.do(ds[i].raw)
				}
				res.times[i] = time.Since(t)
				res.codes[i] = code
				if err != nil {
					if rc != nil {
						rc.c.Close()
						rc = nil
					}
					if errs.Add(1) == 1 {
						fmt.Printf("<!-- delivery %s: %v -->\n", ds[i].id, err)
					}
				}
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.errs = int(errs.Load())
	return res
}

// rawConn is a keep-alive HTTP/1.1 connection that writes prepared
// requests and reads the answers, with a Content-Length or chunked.
type rawConn struct {
	c net.Conn
	r *bufio.Reader
}

func dial(host string) (*rawConn, error) {
	c, err := net.Dial("tcp", host)
	if err != nil {
		return nil, err
	}
	return &rawConn{c: c, r: bufio.NewReaderSize(c, 64<<10)}, nil
}

func (rc *rawConn) do(req []byte) (int, error) {
	if _, err := rc.c.Write(req); err != nil {
		return 0, err
	}
	return benchutil.ReadResponse(rc.r)
}
