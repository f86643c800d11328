package main

import (
	"testing"
	"time"
)

// The decision cache counters are scraped from Prometheus text: every label
// set adds up, similar names and comments do not count.
func TestMetricSum(t *testing.T) {
	t.Parallel()
	text := []byte(`# HELP veil_decision_cache_hits_total Decisions served from the cache.
# TYPE veil_decision_cache_hits_total counter
veil_decision_cache_hits_total{revision="a"} 10
veil_decision_cache_hits_total{revision="b"} 5
veil_decision_cache_hits_total_extra 99
veil_decision_cache_misses_total 3
`)
	for name, tc := range map[string]struct {
		metric string
		want   float64
		found  bool
	}{
		"labelled":   {"veil_decision_cache_hits_total", 15, true},
		"unlabelled": {"veil_decision_cache_misses_total", 3, true},
		"absent":     {"veil_decision_cache_evictions_total", 0, false},
	} {
		got, found := metricSum(text, tc.metric)
		if got != tc.want || found != tc.found {
			t.Errorf("%s: got %v,%v want %v,%v", name, got, found, tc.want, tc.found)
		}
	}
	if l := cacheStat("veil x", cacheCounts{}, cacheCounts{}); l.Rate[:3] != "n/a" {
		t.Errorf("absent counters: rate %q, want n/a", l.Rate)
	}
	l := cacheStat("veil x", cacheCounts{hits: 10, misses: 10, ok: true}, cacheCounts{hits: 40, misses: 20, ok: true})
	if l.Hits != 30 || l.Misses != 10 || l.Rate != "75.0% (30 hits, 10 misses)" {
		t.Errorf("rate over the timed runs: %+v", l)
	}
}

func TestQuantileNearestRank(t *testing.T) {
	t.Parallel()
	var s []time.Duration
	for i := 1; i <= 100; i++ {
		s = append(s, time.Duration(i)*time.Microsecond)
	}
	if got := quantileUS(s, 0.5); got != 50 {
		t.Errorf("p50 = %v, want 50", got)
	}
	if got := quantileUS(s, 0.99); got != 99 {
		t.Errorf("p99 = %v, want 99", got)
	}
	if got := quantileUS(nil, 0.99); got != 0 {
		t.Errorf("empty p99 = %v, want 0", got)
	}
}

// The Go expectation the contenders are held to, on one known record.
func TestExpectedMasked(t *testing.T) {
	t.Parallel()
	doc := []byte(`{"customers":[{"id":"c-1","name":"Ann Lee","email":"ann.lee@example.org","phone":"+1-555-0100","ssn":"123-45-6789","address":{"street":"1 Main St","city":"Springfield","zip":"12345"},"owner_id":"u-17","notes":"VIP"}],"total":1,"offset":0,"limit":1}`)
	want := `{"customers":[{"id":"c-1","name":"Ann Lee","email":"*******@example.org","phone":"*********00","ssn":"*******6789","address":{"street":"1 Main St","city":"Springfield","zip":"12345"},"owner_id":"u-17"}],"total":1,"offset":0,"limit":1}`
	got, err := expectedMasked(doc)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// Ratios pair the runs of one round: a round where the whole machine was
// slower moves both sides, not the ratio.
func TestPairedRatios(t *testing.T) {
	t.Parallel()
	runs := func(rps ...float64) []runResult {
		var rs []runResult
		for _, x := range rps {
			rs = append(rs, runResult{RPS: x})
		}
		return rs
	}
	floor := &row{Contender: "fasthttp-floor", Body: "2.5KB", Runs: runs(400, 300, 500)}
	veil := &row{Contender: "veil", Scenario: "mask4", Body: "2.5KB", Runs: runs(320, 270, 350)}
	other := &row{Contender: "veil", Scenario: "mask4", Body: "250KB", Runs: runs(10, 10, 10)}
	rep := &report{Rows: []*row{floor, veil, other}}
	rep.finish()
	// Per round 0.8, 0.9, 0.7; the ratio of the medians would be 320/400.
	if veil.XFloor != 0.8 || veil.XFloorMin != 0.7 || veil.XFloorMax != 0.9 {
		t.Errorf("paired ratio = %v [%v–%v], want 0.8 [0.7–0.9]", veil.XFloor, veil.XFloorMin, veil.XFloorMax)
	}
	if floor.XFloor != 1 || other.XFloor != 0 || veil.XNginx != 0 {
		t.Errorf("self %v, other body %v, absent nginx %v", floor.XFloor, other.XFloor, veil.XNginx)
	}
	if got := ratioRange(veil.XFloor, veil.XFloorMin, veil.XFloorMax); got != "0.80x [0.70–0.90]" {
		t.Errorf("printed %q", got)
	}
	// Rows that are not one interleaved series: the ratio of the medians.
	short := &row{Contender: "veil", Body: "2.5KB", Runs: runs(200)}
	rep = &report{Rows: []*row{floor, short}}
	rep.finish()
	if short.XFloor != 0.5 || ratioRange(short.XFloor, short.XFloorMin, short.XFloorMax) != "0.50x" {
		t.Errorf("unpaired ratio = %v", short.XFloor)
	}
}
