package benchutil

import (
	"bufio"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// LoadResult is what a load of GETs measured.
type LoadResult struct {
	RPS           float64
	P50, P99, Max time.Duration
	Requests      int
	Errors        int64
}

// Load sends GETs of the paths path makes (each with the bearer token)
// to host from conns keep-alive connections for d, and reports
// throughput and latency. It speaks HTTP/1.1 on raw connections, as wrk
// does, rather than through net/http's client: on a machine it shares
// with the server, a heavy client would measure itself.
func Load(host, token string, conns int, d time.Duration, path func(*rand.Rand) string) LoadResult {
	var errs atomic.Int64
	lat := make([][]time.Duration, conns)
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	start := time.Now()
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			var rc *getConn
			for time.Now().Before(stop) {
				p := path(r)
				t := time.Now()
				var code int
				var err error
				if rc == nil {
					rc, err = dialGet(host, token)
				}
				if err == nil {
					code, err = rc.get(p)
				}
				lat[w] = append(lat[w], time.Since(t))
				if err != nil || code != 200 {
					if rc != nil && err != nil {
						rc.c.Close()
						rc = nil
					}
					if errs.Add(1) == 1 {
						log.Printf("GET %s: %d %v", p, code, err)
					}
				}
			}
			if rc != nil {
				rc.c.Close()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return LoadResult{}
	}
	return LoadResult{
		RPS: float64(len(all)) / elapsed.Seconds(),
		P50: all[len(all)/2], P99: all[len(all)*99/100], Max: all[len(all)-1],
		Requests: len(all), Errors: errs.Load(),
	}
}

// getConn is a keep-alive HTTP/1.1 connection that sends GETs and reads
// the answers, with a Content-Length or chunked.
type getConn struct {
	c      net.Conn
	r      *bufio.Reader
	prefix string
	suffix string
}

func dialGet(host, token string) (*getConn, error) {
	c, err := net.Dial("tcp", host)
	if err != nil {
		return nil, err
	}
	return &getConn{c: c, r: bufio.NewReaderSize(c, 64<<10), prefix: "GET ",
		suffix: " HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: Bearer " + token + "\r\n\r\n"}, nil
}

// requestTimeout bounds one request of a load: a server that stops
// answering shows as errors, not as a load that never ends.
const requestTimeout = 30 * time.Second

func (rc *getConn) get(path string) (int, error) {
	if err := rc.c.SetDeadline(time.Now().Add(requestTimeout)); err != nil {
		return 0, err
	}
	if _, err := io.WriteString(rc.c, rc.prefix+path+rc.suffix); err != nil {
		return 0, err
	}
	return ReadResponse(rc.r)
}
