package benchutil

import (
	"bufio"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// IssuesPayload is a GitHub `issues` payload (opened) whose issue number
// is NUMBER.
//
//go:embed issues.json
var IssuesPayload string

// Delivery is one signed webhook request, written out in full before the
// burst so that sending it costs the load process a single write.
type Delivery struct {
	ID  string
	Raw []byte
}

// NewDelivery signs body as GitHub does and frames the request.
func NewDelivery(host, path, secret, event string, body []byte) Delivery {
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
	return Delivery{ID: id, Raw: append([]byte(head), body...)}
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

// BurstResult is what sending a list of deliveries gave: the status code
// and the answer time of each (code 0: a transport error).
type BurstResult struct {
	Codes   []int
	Times   []time.Duration
	Elapsed time.Duration
	Errs    int
}

// Count is how many deliveries were answered code.
func (r BurstResult) Count(code int) int {
	n := 0
	for _, c := range r.Codes {
		if c == code {
			n++
		}
	}
	return n
}

// Percentiles are the p50, p99 and max answer times.
func (r BurstResult) Percentiles() (p50, p99, maxT time.Duration) {
	s := slices.Clone(r.Times)
	slices.Sort(s)
	if len(s) == 0 {
		return 0, 0, 0
	}
	return s[len(s)/2], s[len(s)*99/100], s[len(s)-1]
}

// Send delivers ds as fast as the servers answer, over conns keep-alive
// connections spread over hosts in turn (replicas behind no balancer),
// each taking the next delivery when its answer came. It speaks HTTP/1.1
// on raw connections, as wrk does, rather than through net/http's client:
// the load shares the machine with the server.
func Send(hosts []string, ds []Delivery, conns int) BurstResult {
	res := BurstResult{Codes: make([]int, len(ds)), Times: make([]time.Duration, len(ds))}
	var next atomic.Int64
	var errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range conns {
		host := hosts[w%len(hosts)]
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
					code, err = rc.do(ds[i].Raw)
				}
				res.Times[i] = time.Since(t)
				res.Codes[i] = code
				if err != nil {
					if rc != nil {
						rc.c.Close()
						rc = nil
					}
					if errs.Add(1) == 1 {
						fmt.Printf("<!-- delivery %s: %v -->\n", ds[i].ID, err)
					}
				}
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Errs = int(errs.Load())
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
	return ReadResponse(rc.r)
}
