package main

import (
	"context"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// workload is the variety of requests: every request picks a subject and a
// path at random, so caches see the spread of production.
type workload struct {
	bearer []string
	paths  []string
	// wantLen maps a path to the exact response length a correct
	// contender returns (nil or missing: not checked).
	wantLen map[string]int
	// stop ends a run early when its context is cancelled.
	stop atomic.Bool
}

// loadSpec is one timed run.
type loadSpec struct {
	addr     string
	conns    int
	warmup   time.Duration
	duration time.Duration
	// rate > 0: open loop at rate requests/s (latency mode); else closed.
	rate float64
	// cpu is the contender's CPU, whose busy time is sampled over the
	// timed window (-1: not pinned, not sampled).
	cpu int
}

// runResult is what one run measured.
type runResult struct {
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	RPS      float64 `json:"rps"`
	P50us    float64 `json:"p50_us"`
	P99us    float64 `json:"p99_us"`
	// FirstError describes one failure (status, length or transport).
	FirstError string `json:"first_error,omitempty"`
	// CPUUserUS and CPUSysUS are the contender CPU's user and kernel
	// (system + irq) time per answered request, in µs (cpu.go); 0 when
	// the contender is not pinned.
	CPUUserUS float64 `json:"cpu_user_us,omitempty"`
	CPUSysUS  float64 `json:"cpu_sys_us,omitempty"`
}

// rng is a per-worker xorshift: no locks, no allocation.
type rng uint64

func (r *rng) next() uint64 {
	x := uint64(*r)
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	*r = rng(x)
	return x
}

type recorder struct {
	lat      []time.Duration
	n, errs  int64
	firstErr string
}

// do sends one request and reports whether it succeeded.
func (w *workload) do(c *fasthttp.HostClient, addr string, r *rng, req *fasthttp.Request, resp *fasthttp.Response) (bool, string) {
	x := r.next()
	path := w.paths[x%uint64(len(w.paths))]
	req.Reset()
	req.Header.SetMethod("GET")
	req.SetRequestURI(path)
	req.Header.SetHost(addr)
	req.Header.Set("Authorization", w.bearer[(x>>20)%uint64(len(w.bearer))])
	resp.Reset()
	if err := c.Do(req, resp); err != nil {
		return false, "transport: " + err.Error()
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		return false, "status " + strconv.Itoa(resp.StatusCode()) + " on " + path
	}
	if want, ok := w.wantLen[path]; ok && len(resp.Body()) != want {
		return false, "body of " + strconv.Itoa(len(resp.Body())) + " bytes, want " + strconv.Itoa(want) + " on " + path
	}
	return true, ""
}

func newClient(addr string, conns int) *fasthttp.HostClient {
	return &fasthttp.HostClient{
		Addr:                addr,
		MaxConns:            conns,
		MaxResponseBodySize: 256 << 20,
		ReadBufferSize:      64 << 10,
		ReadTimeout:         30 * time.Second,
		WriteTimeout:        30 * time.Second,
		MaxIdleConnDuration: time.Minute,
	}
}

// run measures one contender: a warm-up (not counted), then the timed part.
// A cancelled ctx ends it early (Ctrl-C).
func (w *workload) run(ctx context.Context, s loadSpec) runResult {
	c := newClient(s.addr, s.conns)
	defer c.CloseIdleConnections()
	w.stop.Store(false)
	defer context.AfterFunc(ctx, func() { w.stop.Store(true) })()
	if s.rate > 0 {
		return w.runOpen(c, s)
	}
	return w.runClosed(c, s)
}

// runClosed: conns workers, each sends its next request when the previous
// one is answered: the maximum throughput.
func (w *workload) runClosed(c *fasthttp.HostClient, s loadSpec) runResult {
	start := time.Now()
	from := start.Add(s.warmup)
	until := from.Add(s.duration)
	cpu := sampleCPU(s.cpu, from, until)
	recs := make([]recorder, s.conns)
	var wg sync.WaitGroup
	for i := range s.conns {
		wg.Add(1)
		go func(rec *recorder, seed uint64) {
			defer wg.Done()
			r := rng(seed)
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for {
				t0 := time.Now()
				if !t0.Before(until) || w.stop.Load() {
					return
				}
				ok, why := w.do(c, s.addr, &r, req, resp)
				t1 := time.Now()
				// Count what completes inside the window (a slow request
				// that started in the warm-up still counts): completions
				// per second is the throughput.
				if t1.Before(from) || t1.After(until) {
					continue
				}
				rec.add(ok, why, t1.Sub(t0))
			}
		}(&recs[i], uint64(i)*0x9E3779B97F4A7C15+1)
	}
	wg.Wait()
	res := merge(recs, s.duration)
	cpu.perRequest(&res)
	return res
}

// runOpen sends at a fixed rate whatever the answers do (each connection
// owns every conns-th slot of the schedule). A request sent late because
// its connection was still waiting for the previous answer is measured
// from its scheduled time, so a stall is not hidden by requests that were
// never sent (coordinated omission); a request the generator's own timer
// woke late is measured from when it was sent, since that lateness is the
// generator's, not the contender's.
func (w *workload) runOpen(c *fasthttp.HostClient, s loadSpec) runResult {
	start := time.Now()
	from := start.Add(s.warmup)
	until := from.Add(s.duration)
	interval := time.Duration(float64(time.Second) / s.rate)
	recs := make([]recorder, s.conns)
	var wg sync.WaitGroup
	for i := range s.conns {
		wg.Add(1)
		go func(rec *recorder, slot int) {
			defer wg.Done()
			r := rng(uint64(slot)*0x9E3779B97F4A7C15 + 1)
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			prevEnd := start
			for k := slot; ; k += s.conns {
				due := start.Add(time.Duration(k) * interval)
				if !due.Before(until) || w.stop.Load() {
					return
				}
				sent := due
				if d := time.Until(due); d > 0 {
					time.Sleep(d)
					sent = time.Now()
				} else if !prevEnd.After(due) {
					sent = time.Now() // late only by the generator's own scheduling
				}
				ok, why := w.do(c, s.addr, &r, req, resp)
				t1 := time.Now()
				prevEnd = t1
				if due.Before(from) {
					continue
				}
				rec.add(ok, why, t1.Sub(sent))
			}
		}(&recs[i], i)
	}
	wg.Wait()
	return merge(recs, s.duration)
}

func (rec *recorder) add(ok bool, why string, d time.Duration) {
	if !ok {
		rec.errs++
		if rec.firstErr == "" {
			rec.firstErr = why
		}
		return
	}
	rec.n++
	rec.lat = append(rec.lat, d)
}

func merge(recs []recorder, d time.Duration) runResult {
	var res runResult
	var all []time.Duration
	for i := range recs {
		res.Requests += recs[i].n
		res.Errors += recs[i].errs
		if res.FirstError == "" {
			res.FirstError = recs[i].firstErr
		}
		all = append(all, recs[i].lat...)
	}
	res.RPS = float64(res.Requests) / d.Seconds()
	slices.Sort(all)
	res.P50us = quantileUS(all, 0.50)
	res.P99us = quantileUS(all, 0.99)
	return res
}

// quantileUS is the nearest-rank quantile of a sorted sample, in µs.
func quantileUS(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0 // JSON has no NaN; Requests == 0 tells the reader
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i]) / float64(time.Microsecond)
}
