package reconcile

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics is an Observer that exports the scheduler's work to Prometheus.
type Metrics struct {
	duration *prometheus.HistogramVec
	depth    prometheus.Gauge
}

// NewMetrics registers the reconcile metrics.
func NewMetrics(reg *prometheus.Registry) *Metrics {
	m := &Metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pkgserver_reconcile_duration_seconds",
			Help:    "Time to sync a repository with git, by outcome.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"result"}),
		depth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pkgserver_sync_queue_depth",
			Help: "Repository syncs waiting for a worker.",
		}),
	}
	reg.MustRegister(m.duration, m.depth)
	return m
}

// ObserveReconcile records a sync.
func (m *Metrics) ObserveReconcile(d time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.duration.WithLabelValues(result).Observe(d.Seconds())
}

// QueueDepth records the number of syncs waiting.
func (m *Metrics) QueueDepth(n int) { m.depth.Set(float64(n)) }
