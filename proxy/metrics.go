package proxy

import (
	"github.com/veilgw/veil/audit"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/veilgw/veil/vault"
)

// metrics are the gateway's Prometheus collectors, on a registry of its own
// (so several gateways can run in one process, as in tests).
type metrics struct {
	reg          *prometheus.Registry
	requests     *prometheus.CounterVec
	decisions    *prometheus.CounterVec
	transforms   *prometheus.CounterVec
	failedValues prometheus.Counter
	duration     *prometheus.HistogramVec
	upstreamDur  *prometheus.HistogramVec
	auditEvents  prometheus.Counter
	auditErrors  prometheus.Counter

	// Resolved children of the vectors above (see labelled).
	requestsBy                                 *labelled[prometheus.Counter]  // route, status
	durationBy, upstreamDurBy                  *labelled[prometheus.Observer] // route
	transformsBy                               *labelled[prometheus.Counter]  // direction, action
	decisionAllow, decisionDeny, decisionError prometheus.Counter
}

// keyringCollector exports the Vault keyring's counters, when the keyring
// has them.
type keyringCollector struct {
	stats                                         func() vault.VaultStats
	refreshes, refreshErrors, vaultErrors, logins *prometheus.Desc
	lastRefresh                                   *prometheus.Desc
}

func newKeyringCollector(stats func() vault.VaultStats) *keyringCollector {
	return &keyringCollector{
		stats:         stats,
		refreshes:     prometheus.NewDesc("veil_keys_refreshes_total", "Successful key loads from Vault.", nil, nil),
		refreshErrors: prometheus.NewDesc("veil_keys_refresh_errors_total", "Failed key loads from Vault.", nil, nil),
		vaultErrors:   prometheus.NewDesc("veil_vault_errors_total", "Failed Vault calls.", nil, nil),
		logins:        prometheus.NewDesc("veil_vault_logins_total", "Successful Vault logins.", nil, nil),
		lastRefresh:   prometheus.NewDesc("veil_keys_last_refresh_timestamp_seconds", "Time of the last successful key load.", nil, nil),
	}
}

func (c *keyringCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.refreshes
	ch <- c.refreshErrors
	ch <- c.vaultErrors
	ch <- c.logins
	ch <- c.lastRefresh
}

func (c *keyringCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	ch <- prometheus.MustNewConstMetric(c.refreshes, prometheus.CounterValue, float64(s.Refreshes))
	ch <- prometheus.MustNewConstMetric(c.refreshErrors, prometheus.CounterValue, float64(s.RefreshErrors))
	ch <- prometheus.MustNewConstMetric(c.vaultErrors, prometheus.CounterValue, float64(s.VaultErrors))
	ch <- prometheus.MustNewConstMetric(c.logins, prometheus.CounterValue, float64(s.Logins))
	if !s.LastRefresh.IsZero() {
		ch <- prometheus.MustNewConstMetric(c.lastRefresh, prometheus.GaugeValue, float64(s.LastRefresh.Unix()))
	}
}

// auditCollector exports each audit sink's delivery counters.
type auditCollector struct {
	l                                           *audit.Logger
	written, dropped, errs, queued, spooled, up *prometheus.Desc
}

func newAuditCollector(l *audit.Logger) *auditCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, []string{"sink", "type"}, nil)
	}
	return &auditCollector{l: l,
		written: d("veil_audit_sink_written_total", "Records (events, checkpoints, segments) the sink took."),
		dropped: d("veil_audit_sink_dropped_total", "Records lost: no queue slot and no spool."),
		errs:    d("veil_audit_sink_errors_total", "Failed deliveries (each retried)."),
		queued:  d("veil_audit_sink_queue_depth", "Records waiting in the sink's memory queue."),
		spooled: d("veil_audit_sink_spooled", "Records waiting in the sink's spool file."),
		up:      d("veil_audit_sink_healthy", "1 while the sink is delivering, 0 while failing or stalled."),
	}
}

func (c *auditCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.written, c.dropped, c.errs, c.queued, c.spooled, c.up} {
		ch <- d
	}
}

func (c *auditCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.l.SinkStats() {
		up := 0.0
		if s.Healthy {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.written, prometheus.CounterValue, float64(s.Written), s.Name, s.Type)
		ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(s.Dropped), s.Name, s.Type)
		ch <- prometheus.MustNewConstMetric(c.errs, prometheus.CounterValue, float64(s.Errors), s.Name, s.Type)
		ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(s.Queued), s.Name, s.Type)
		ch <- prometheus.MustNewConstMetric(c.spooled, prometheus.GaugeValue, float64(s.Spooled), s.Name, s.Type)
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up, s.Name, s.Type)
	}
}

// cacheCollector exports the policy decision cache's lookups.
type cacheCollector struct {
	stats        func() (hits, misses uint64)
	hits, misses *prometheus.Desc
}

func newCacheCollector(stats func() (hits, misses uint64)) *cacheCollector {
	return &cacheCollector{stats: stats,
		hits:   prometheus.NewDesc("veil_decision_cache_hits_total", "Decisions served from the decision cache.", nil, nil),
		misses: prometheus.NewDesc("veil_decision_cache_misses_total", "Cacheable decisions evaluated by OPA.", nil, nil),
	}
}

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.hits; ch <- c.misses }

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	h, m := c.stats()
	ch <- prometheus.MustNewConstMetric(c.hits, prometheus.CounterValue, float64(h))
	ch <- prometheus.MustNewConstMetric(c.misses, prometheus.CounterValue, float64(m))
}

// revisionCollector reports the policy revision being served at scrape
// time, so a hot reload shows (a gauge set once kept the first revision).
type revisionCollector struct {
	desc     *prometheus.Desc
	revision func() string
}

func newRevisionCollector(revision func() string) *revisionCollector {
	return &revisionCollector{revision: revision,
		desc: prometheus.NewDesc("veil_policy_revision_info", "The policy revision being served (value 1).", []string{"revision"}, nil)}
}

func (c *revisionCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *revisionCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, 1, c.revision())
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	defer m.resolve()
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "veil_requests_total", Help: "Requests by route and response status."}, []string{"route", "status"})
	m.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "veil_decisions_total", Help: "Policy decisions by result (allow, deny, error)."}, []string{"result"})
	m.transforms = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "veil_transformed_values_total", Help: "JSON values transformed, by direction and action."}, []string{"direction", "action"})
	m.failedValues = prometheus.NewCounter(prometheus.CounterOpts{Name: "veil_transform_failed_values_total", Help: "Values an action could not handle (redacted instead)."})
	buckets := []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "veil_request_duration_seconds", Help: "Time from accept to response sent, by route.", Buckets: buckets}, []string{"route"})
	m.upstreamDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "veil_upstream_duration_seconds", Help: "Time to upstream response headers, by route.", Buckets: buckets}, []string{"route"})
	m.auditEvents = prometheus.NewCounter(prometheus.CounterOpts{Name: "veil_audit_events_total", Help: "Audit events chained and queued for the sinks."})
	m.auditErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "veil_audit_errors_total", Help: "Audit events lost for some sink (no queue slot or spool) or not encodable."})
	m.reg.MustRegister(m.requests, m.decisions, m.transforms, m.failedValues, m.duration, m.upstreamDur,
		m.auditEvents, m.auditErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

var statusLabels = func() (s [600]string) {
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return
}()

// resolve sets up the resolved children once the vectors exist.
func (m *metrics) resolve() {
	m.requestsBy = newLabelled(func(a, b string) prometheus.Counter { return m.requests.WithLabelValues(a, b) })
	m.durationBy = newLabelled(func(a, _ string) prometheus.Observer { return m.duration.WithLabelValues(a) })
	m.upstreamDurBy = newLabelled(func(a, _ string) prometheus.Observer { return m.upstreamDur.WithLabelValues(a) })
	m.transformsBy = newLabelled(func(a, b string) prometheus.Counter { return m.transforms.WithLabelValues(a, b) })
	m.decisionAllow = m.decisions.WithLabelValues("allow")
	m.decisionDeny = m.decisions.WithLabelValues("deny")
	m.decisionError = m.decisions.WithLabelValues("error")
}

func statusLabel(code int) string {
	if code >= 0 && code < len(statusLabels) {
		return statusLabels[code]
	}
	return "other"
}

// labelled memoises a vector's children by label values: WithLabelValues
// hashes the labels on every call, a few hundred nanoseconds each, and a
// request touches up to a dozen series. Label values come from config
// (routes), status codes and action names, so the maps stay small.
type labelled[T any] struct {
	mu   sync.RWMutex
	m    map[[2]string]T
	make func(a, b string) T
}

func newLabelled[T any](mk func(a, b string) T) *labelled[T] {
	return &labelled[T]{m: map[[2]string]T{}, make: mk}
}

func (l *labelled[T]) get(a, b string) T {
	k := [2]string{a, b}
	l.mu.RLock()
	v, ok := l.m[k]
	l.mu.RUnlock()
	if ok {
		return v
	}
	v = l.make(a, b)
	l.mu.Lock()
	l.m[k] = v
	l.mu.Unlock()
	return v
}
