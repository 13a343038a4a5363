// Package gateway is Gatehouse's HTTP surface: the gin engine, request ids, access logs,
// metrics, health and readiness. Protocol adapters (package scim, later the REST API and the
// portal) mount themselves on it.
package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// Options configure the engine.
type Options struct {
	Log *zap.Logger
	// Ready reports whether the gateway can serve: Redis reachable.
	Ready func(ctx context.Context) error
	// Collectors are more metrics for /metrics (the provisioning queue, ...).
	Collectors []prometheus.Collector
	// Unmatched answers the requests no route takes, by path prefix ("/api/v1"), in the
	// format of the adapter that owns the prefix: status is 404, or 405 with the Allow header
	// already set. A path under no prefix gets gin's bare 404 or 405.
	Unmatched map[string]func(c *gin.Context, status int)
	// FrontDoor serves every path that no route and no Unmatched prefix takes: the portal,
	// whose pages live at /. nil: gin's bare 404.
	FrontDoor http.Handler
}

// RouteKey is the gin context key an adapter sets to name a request's route in metrics and
// logs when gin's own pattern is too coarse (a catch-all).
const RouteKey = "route"

// New builds the engine with the operational endpoints: /healthz, /readyz and /metrics.
func New(opts Options) *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(opts.Collectors...)
	m := newMetrics(reg)
	r.Use(requestID, m.observe, accessLog(opts.Log), gin.CustomRecoveryWithWriter(io.Discard, func(c *gin.Context, err any) {
		opts.Log.Error("panic serving request", zap.String("request_id", c.Request.Header.Get(requestIDHeader)), zap.Any("panic", err))
		c.AbortWithStatus(http.StatusInternalServerError)
	}))
	r.NoRoute(unmatched(opts.Unmatched, opts.FrontDoor, http.StatusNotFound))
	r.NoMethod(unmatched(opts.Unmatched, nil, http.StatusMethodNotAllowed))
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
		defer cancel()
		if err := opts.Ready(ctx); err != nil {
			opts.Log.Warn("not ready", zap.Error(err))
			c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable", "redis": "unreachable"})
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": "ready"})
	})
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	return r
}

// unmatched hands a request no route took to the adapter whose prefix is the longest that
// contains its path; with none, to the front door; without one, gin answers on its own.
func unmatched(by map[string]func(*gin.Context, int), frontDoor http.Handler, status int) gin.HandlerFunc {
	return func(c *gin.Context) {
		path, owner := c.Request.URL.Path, ""
		for prefix := range by {
			if (path == prefix || strings.HasPrefix(path, prefix+"/")) && len(prefix) > len(owner) {
				owner = prefix
			}
		}
		switch {
		case owner != "":
			by[owner](c, status)
		case frontDoor != nil:
			frontDoor.ServeHTTP(c.Writer, c.Request)
		}
	}
}

const requestIDHeader = "X-Request-Id"

// A client-sent request id is kept when it is a plain token, so an IdP's own correlation id
// shows up in our logs; anything else is replaced, so ids never carry injected text.
var plainID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Request ids need to be unique, not secret: a random per-process prefix and a counter are
// enough, and cost no system call per request.
var (
	idPrefix = func() string {
		var b [6]byte
		_, _ = rand.Read(b[:])
		return hex.EncodeToString(b[:]) + "-"
	}()
	idCounter atomic.Uint64
)

func requestID(c *gin.Context) {
	id := c.Request.Header.Get(requestIDHeader)
	if !plainID.MatchString(id) {
		id = idPrefix + strconv.FormatUint(idCounter.Add(1), 36)
		c.Request.Header.Set(requestIDHeader, id)
	}
	c.Writer.Header().Set(requestIDHeader, id)
	c.Request = c.Request.WithContext(governance.WithRequestID(c.Request.Context(), id))
	c.Next()
}

func route(c *gin.Context) string {
	if r := c.GetString(RouteKey); r != "" {
		return r
	}
	if r := c.FullPath(); r != "" {
		return r
	}
	return "unmatched"
}

// accessLog writes one line per request. The query string is left out: SCIM filters carry
// user names and email addresses.
func accessLog(log *zap.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now() // wall clock: the request's latency, here and below
		c.Next()
		log.Info("request",
			zap.String("request_id", c.Request.Header.Get(requestIDHeader)),
			zap.String("method", c.Request.Method),
			zap.String("route", route(c)),
			zap.String("path", c.Request.URL.Path),
			zap.Int("status", c.Writer.Status()),
			zap.Duration("duration", time.Since(start)), // wall clock: latency
			zap.String("client", c.GetString("client")),
		)
	}
}

type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gatehouse_http_request_duration_seconds", Help: "HTTP request latency by route and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method"}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

func (m *metrics) observe(c *gin.Context) {
	start := time.Now() // wall clock: the request's latency
	c.Next()
	r := route(c)
	m.requests.WithLabelValues(r, c.Request.Method, strconv.Itoa(c.Writer.Status())).Inc()
	// wall clock: latency
	m.latency.WithLabelValues(r, c.Request.Method).Observe(time.Since(start).Seconds())
}
