package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testLog sends the harness's progress to the test log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// runSmoke runs the harness in smoke mode, within limit, with what o sets
// plus fresh directories (OutDir too unless set), a build from this tree,
// this test's log and the smallest allowed workload (64 paths, 256
// subjects). It skips in -short mode.
func runSmoke(t *testing.T, o options, limit time.Duration) *report {
	t.Helper()
	if testing.Short() {
		t.Skip("starts real gateways and loads them for seconds")
	}
	o.BinDir, o.BenchDir, o.Build, o.Smoke, o.Log, o.Pages, o.Subjects = t.TempDir(), t.TempDir(), true, true, testLog{t}, 64, 256
	if o.OutDir == "" {
		o.OutDir = t.TempDir()
	}
	o.smokeDefaults()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	rep, err := run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestSmoke runs the harness's smoke mode for real: veil and the fasthttp
// floor built from this tree, every installed contender started on
// loopback, each checked for the right bytes (masked, tokenized, denied)
// before being loaded for a second. Contenders that are not installed
// (nginx, njs, opa) are reported skipped, never faked.
func TestSmoke(t *testing.T) {
	out := t.TempDir()
	rep := runSmoke(t, options{OutDir: out}, 2*time.Minute)
	seen := map[string]bool{}
	for _, r := range rep.Rows {
		seen[r.label()] = true
		if r.MedianRPS <= 0 {
			t.Errorf("%s: served no requests (%s)", r.label(), r.Runs[0].FirstError)
		}
		if r.Errors > 0 {
			t.Errorf("%s: %d failed requests under load, first: %s", r.label(), r.Errors, r.Runs[0].FirstError)
		}
		// Pinned, every contender but direct has its CPU cost measured.
		if strings.Contains(rep.Pinning, "(taskset)") && r.Contender != "direct" && r.CPUUserUS+r.CPUSysUS <= 0 {
			t.Errorf("%s: no CPU per request measured on the contender's CPU", r.label())
		}
	}
	// These need nothing but Go: they must always run.
	for _, want := range []string{"direct", "fasthttp-floor", "veil passthrough", "veil policy", "veil mask4",
		"veil crypto4", "veil mask4+audit-file"} {
		if !seen[want] {
			t.Errorf("contender %q did not run", want)
		}
	}
	for _, want := range []string{"nginx", "nginx+opa+njs mask4"} {
		// CI installs them (scripts/bench-deps.sh): there a skip is a failure.
		if !seen[want] && os.Getenv("CI") == "true" {
			t.Errorf("contender %q did not run under CI (skipped: %q)", want, rep.Skipped)
		}
		if !seen[want] && !skippedMentions(rep.Skipped, strings.Fields(want)[0]) {
			t.Errorf("contender %q neither ran nor was reported skipped", want)
		}
	}
	data, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back report
	if err := json.Unmarshal(data, &back); err != nil || len(back.Rows) != len(rep.Rows) {
		t.Errorf("results.json does not hold the %d rows (%v)", len(rep.Rows), err)
	}
	if svg, err := os.ReadFile(filepath.Join(out, "results.svg")); err != nil || !strings.Contains(string(svg), "veil mask4") {
		t.Errorf("results.svg missing or without the veil rows (%v)", err)
	}
}

// TestSmokeWithoutNginx: where nginx is missing the harness still measures
// direct, the floor and Veil (an in-process upstream stands in) and says
// nginx was skipped.
func TestSmokeWithoutNginx(t *testing.T) {
	profiles := t.TempDir()
	rep := runSmoke(t, options{Without: []string{"nginx"}, Only: []string{"fasthttp-floor", "veil mask4", "nginx"}, ProfileDir: profiles}, time.Minute)
	got := map[string]float64{}
	for _, r := range rep.Rows {
		got[r.label()] = r.MedianRPS
		if r.Errors > 0 {
			t.Errorf("%s: %d failed requests, first: %s", r.label(), r.Errors, r.Runs[0].FirstError)
		}
	}
	for _, want := range []string{"direct", "fasthttp-floor", "veil mask4", "veil mask4+audit-file"} {
		if got[want] <= 0 {
			t.Errorf("%s: no requests served (ran: %v)", want, got)
		}
	}
	for _, want := range []string{"nginx", "nginx+opa+njs"} {
		if !skippedMentions(rep.Skipped, want) {
			t.Errorf("%s not reported skipped: %q", want, rep.Skipped)
		}
	}
	if !strings.Contains(rep.Upstream, "nginx not installed") {
		t.Errorf("upstream %q does not say nginx is missing", rep.Upstream)
	}
	// -profile: one CPU profile (gzipped protobuf) per Veil and floor run.
	for _, name := range []string{"veil-mask4-2.5KB.pprof", "veil-mask4+audit-file-2.5KB.pprof", "fasthttp-floor-2.5KB.pprof"} {
		b, err := os.ReadFile(filepath.Join(profiles, name))
		if err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
			t.Errorf("profile %s missing or not a pprof file (%d bytes, %v)", name, len(b), err)
		}
	}
}

func skippedMentions(lines []string, label string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, "skipped: "+label+":") {
			return true
		}
	}
	return false
}

// TestLatencySmoke runs -latency for real, bounded: Veil's closed-loop
// maximum, then direct, the floor and Veil at half of it, open loop.
func TestLatencySmoke(t *testing.T) {
	out := t.TempDir()
	rep := runSmoke(t, options{OutDir: out, Mode: "latency"}, time.Minute)
	l := rep.Latency
	if l == nil || l.Rate <= 0 || l.VeilMaxRPS <= 0 {
		t.Fatalf("no latency report: %+v", l)
	}
	for name, runs := range map[string][]runResult{"direct": l.Direct, "fasthttp-floor": l.Floor, "veil": l.Veil} {
		if len(runs) != 1 || runs[0].P99us <= 0 || runs[0].Errors > 0 || runs[0].RPS <= 0 {
			t.Errorf("%s: runs %+v", name, runs)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "latency.json")); err != nil {
		t.Errorf("latency.json: %v", err)
	}
}
