package edge

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/parley-im/parley/streams"
)

// metrics are the edge's Prometheus metrics. The fields are safe for
// concurrent use and never reassigned after newMetrics.
type metrics struct {
	sockets   prometheus.Gauge     // open WebSockets
	eventsIn  prometheus.Counter   // live events received from NATS
	eventsOut prometheus.Counter   // event frames queued to sockets
	publish   prometheus.Histogram // JetStream publish latency, seconds
	requests  *prometheus.CounterVec
	handler   http.Handler // serves the registry at /metrics
}

// consumerLagTimeout bounds the JetStream round trip of one scrape of
// parley_consumer_lag.
const consumerLagTimeout = 2 * time.Second

// newMetrics registers the edge's metrics in reg. Metrics already there
// (several edges of one process sharing a registry) are reused.
func newMetrics(s *Server, reg *prometheus.Registry) *metrics {
	m := &metrics{
		sockets: register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "parley_ws_sockets", Help: "Open WebSocket connections.",
		})),
		eventsIn: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_events_in_total", Help: "Live events received from NATS.",
		})),
		eventsOut: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_events_out_total", Help: "Event frames queued to WebSockets.",
		})),
		publish: register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "parley_publish_seconds",
			Help:    "Latency of JetStream publishes, until the stream acknowledged.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		})),
		requests: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_http_requests_total", Help: "HTTP requests by method, route and status code.",
		}, []string{"method", "route", "code"})),
		handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}),
	}
	register(reg, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "parley_consumer_lag",
		Help: "Conversation events not yet delivered to the persist workers; -1 when unknown.",
	}, s.persistLag))
	register(reg, collectors.NewGoCollector())
	register(reg, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// register registers c in reg, or returns the equal collector registered
// before it.
func register[C prometheus.Collector](reg *prometheus.Registry, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if old, ok := are.ExistingCollector.(C); ok {
				return old
			}
		}
		panic(err) // a programming error: conflicting metric definitions
	}
	return c
}

// persistLag is the number of conversation events the persist durable has
// yet to be delivered, or -1 if JetStream does not answer in time.
func (s *Server) persistLag() float64 {
	ctx, cancel := context.WithTimeout(context.Background(), consumerLagTimeout)
	defer cancel()
	cons, err := s.js.Consumer(ctx, s.layout.ConvStream(), streams.DurablePersist)
	if err != nil {
		return -1
	}
	return float64(cons.CachedInfo().NumPending)
}

func (s *Server) metricsHandler(c echo.Context) error {
	s.met.handler.ServeHTTP(c.Response(), c.Request())
	return nil
}

// countRequests counts every request by method, route pattern (never the
// raw URL, which would make the label unbounded) and status code. It
// renders a handler's error itself, so that the status it counts is the
// one sent.
func (s *Server) countRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := next(c); err != nil {
			c.Error(err)
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		s.met.requests.WithLabelValues(c.Request().Method, route, strconv.Itoa(c.Response().Status)).Inc()
		return nil
	}
}
