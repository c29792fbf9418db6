package main

import (
	"bufio"
	"math"
	"strconv"
	"strings"
	"time"
)

// renderMetric is the server's histogram of the renders of API writes
// (pkgserver_render_duration_seconds, outcome "ok"), read from /metrics
// after the PUTs: the renders timed inside the server, in a process that
// holds what a server holds.
type renderMetric struct {
	count   int
	sum     float64
	buckets []metricBucket // by upper bound, cumulative counts
}

type metricBucket struct {
	le    float64
	count int
}

const renderMetricName = "pkgserver_render_duration_seconds"

// parseRenderMetric reads the histogram out of the Prometheus text format.
func parseRenderMetric(text string) renderMetric {
	var m renderMetric
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, renderMetricName) || !strings.Contains(line, `outcome="ok"`) {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		switch name := line[:strings.IndexAny(line, "{ ")]; name {
		case renderMetricName + "_count":
			m.count = int(v)
		case renderMetricName + "_sum":
			m.sum = v
		case renderMetricName + "_bucket":
			i := strings.Index(line, `le="`)
			if i < 0 {
				continue
			}
			rest := line[i+4:]
			le, err := strconv.ParseFloat(rest[:strings.IndexByte(rest, '"')], 64)
			if err != nil {
				continue
			}
			m.buckets = append(m.buckets, metricBucket{le: le, count: int(v)})
		}
	}
	return m
}

// quantile estimates the q-quantile as Prometheus's histogram_quantile
// does: linearly within the bucket that holds it.
func (m renderMetric) quantile(q float64) time.Duration {
	if m.count == 0 || len(m.buckets) == 0 {
		return 0
	}
	rank := q * float64(m.count)
	lower, below := 0.0, 0
	for _, b := range m.buckets {
		if float64(b.count) >= rank {
			if math.IsInf(b.le, 1) {
				return seconds(lower)
			}
			in := b.count - below
			if in == 0 {
				return seconds(b.le)
			}
			return seconds(lower + (b.le-lower)*(rank-float64(below))/float64(in))
		}
		lower, below = b.le, b.count
	}
	return seconds(lower)
}

func (m renderMetric) mean() time.Duration {
	if m.count == 0 {
		return 0
	}
	return seconds(m.sum / float64(m.count))
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
