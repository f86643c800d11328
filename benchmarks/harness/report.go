package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// report is everything one run measured; it is also the results JSON.
type report struct {
	Time     string   `json:"time"`
	Mode     string   `json:"mode"`
	Machine  machine  `json:"machine"`
	Pinning  string   `json:"cpu_budget"`
	Upstream string   `json:"upstream"`
	Method   method   `json:"method"`
	Skipped  []string `json:"skipped,omitempty"`
	// Contenders says what each row measures.
	Contenders map[string]string `json:"contenders,omitempty"`
	Rows       []*row            `json:"rows,omitempty"`
	Cache      []cacheLine       `json:"decision_cache,omitempty"`
	Latency    *latencyReport    `json:"latency,omitempty"`
	Scaling    *scalingReport    `json:"scaling,omitempty"`
}

type machine struct {
	CPUs      int    `json:"cpus"`
	Model     string `json:"cpu_model"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go"`
	Load      string `json:"loadavg_at_start"`
}

type method struct {
	Rounds    int     `json:"rounds"`
	DurationS float64 `json:"duration_s"`
	WarmupS   float64 `json:"warmup_s"`
	Conns     int     `json:"conns"`
	Subjects  int     `json:"subjects"`
	Paths     int     `json:"paths_per_body"`
	Smoke     bool    `json:"smoke,omitempty"`
}

// row is one contender on one body size over all rounds.
type row struct {
	Contender string      `json:"contender"`
	Scenario  string      `json:"scenario,omitempty"`
	Body      string      `json:"body"`
	BodyBytes int         `json:"body_bytes"`
	Runs      []runResult `json:"runs"`
	MedianRPS float64     `json:"median_rps"`
	MinRPS    float64     `json:"min_rps"`
	MaxRPS    float64     `json:"max_rps"`
	P50us     float64     `json:"p50_us"`
	P99us     float64     `json:"p99_us"`
	Errors    int64       `json:"errors"`
	// XNginx and XFloor compare the row with nginx and fasthttp-floor on
	// the same body (0: that contender did not run): the median over the
	// rounds of the row's req/s over the other's in the same round, with
	// the lowest and highest of those per-round ratios. A round runs the
	// contenders back to back, so its ratio compares runs that saw the
	// same machine; the drift between rounds (on a shared machine the
	// floor alone can move by 20 %) stays out of the ratio.
	XNginx    float64 `json:"x_nginx,omitempty"`
	XNginxMin float64 `json:"x_nginx_min,omitempty"`
	XNginxMax float64 `json:"x_nginx_max,omitempty"`
	XFloor    float64 `json:"x_fasthttp_floor,omitempty"`
	XFloorMin float64 `json:"x_fasthttp_floor_min,omitempty"`
	XFloorMax float64 `json:"x_fasthttp_floor_max,omitempty"`
	// CPUUserUS and CPUSysUS are the medians of the runs' CPU per request
	// on the contender's CPU (cpu.go).
	CPUUserUS float64 `json:"cpu_user_us,omitempty"`
	CPUSysUS  float64 `json:"cpu_sys_us,omitempty"`
}

func (r *row) label() string {
	if r.Scenario == "" {
		return r.Contender
	}
	return r.Contender + " " + r.Scenario
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (r *row) finish() {
	var rps, p50, p99, cu, cs []float64
	for _, x := range r.Runs {
		rps = append(rps, x.RPS)
		p50 = append(p50, x.P50us)
		p99 = append(p99, x.P99us)
		cu = append(cu, x.CPUUserUS)
		cs = append(cs, x.CPUSysUS)
		r.Errors += x.Errors
	}
	r.MedianRPS, r.P50us, r.P99us = median(rps), median(p50), median(p99)
	r.CPUUserUS, r.CPUSysUS = median(cu), median(cs)
	r.MinRPS, r.MaxRPS = slices.Min(rps), slices.Max(rps)
}

func (e *env) newReport() *report {
	o := e.o
	rep := &report{
		Time:     time.Now().UTC().Format(time.RFC3339),
		Mode:     o.Mode,
		Pinning:  e.pin.Why,
		Upstream: e.upstreamKind,
		Skipped:  e.skipped,
		Method: method{Rounds: o.Rounds, DurationS: o.Duration.Seconds(), WarmupS: o.Warmup.Seconds(),
			Conns: o.Conns, Subjects: o.Subjects, Paths: o.Pages, Smoke: o.Smoke},
		Machine: machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), Model: cpuModel(), Kernel: kernel(), Load: loadavg()},
	}
	if rep.Mode == "" {
		rep.Mode = "compare"
	}
	return rep
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func kernel() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return "Linux " + strings.TrimSpace(string(b))
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// finish computes medians and ratios.
func (rep *report) finish() {
	base := map[string]*row{}
	for _, r := range rep.Rows {
		r.finish()
		if r.Contender == "nginx" || r.Contender == "fasthttp-floor" {
			base[r.Contender+"|"+r.Body] = r
		}
	}
	for _, r := range rep.Rows {
		if b := base["nginx|"+r.Body]; b != nil {
			r.XNginx, r.XNginxMin, r.XNginxMax = pairedRatio(r, b)
		}
		if b := base["fasthttp-floor|"+r.Body]; b != nil {
			r.XFloor, r.XFloorMin, r.XFloorMax = pairedRatio(r, b)
		}
	}
}

// pairedRatio returns the median, lowest and highest of r's req/s over
// b's, round by round. Rows with a different number of runs (not one
// interleaved series) fall back to the ratio of the medians.
func pairedRatio(r, b *row) (med, lo, hi float64) {
	if len(r.Runs) != len(b.Runs) || len(r.Runs) == 0 {
		if b.MedianRPS <= 0 {
			return 0, 0, 0
		}
		x := r.MedianRPS / b.MedianRPS
		return x, x, x
	}
	xs := make([]float64, 0, len(r.Runs))
	for i := range r.Runs {
		if b.Runs[i].RPS > 0 {
			xs = append(xs, r.Runs[i].RPS/b.Runs[i].RPS)
		}
	}
	if len(xs) == 0 {
		return 0, 0, 0
	}
	return median(xs), slices.Min(xs), slices.Max(xs)
}

func ratio(x float64) string {
	if x == 0 || math.IsNaN(x) {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", x)
}

// ratioRange is ratio with the per-round range, when there is one.
func ratioRange(x, lo, hi float64) string {
	if x == 0 || math.IsNaN(x) || lo == hi {
		return ratio(x)
	}
	return fmt.Sprintf("%.2fx [%.2f–%.2f]", x, lo, hi)
}

func us(x float64) string {
	switch {
	case math.IsNaN(x) || x == 0:
		return "n/a"
	case x >= 10000:
		return fmt.Sprintf("%.1f ms", x/1000)
	default:
		return fmt.Sprintf("%.0f µs", x)
	}
}

// print writes the tables as Markdown (pasteable into benchmarks/README.md).
func (rep *report) print(w io.Writer) {
	fmt.Fprintf(w, "\n%s, %d CPUs (%s), %s, %s; load average at start %s\n", rep.Time, rep.Machine.CPUs,
		rep.Machine.Model, rep.Machine.Kernel, rep.Machine.GoVersion, rep.Machine.Load)
	fmt.Fprintf(w, "CPU budget: %s\nupstream: %s\n", rep.Pinning, rep.Upstream)
	fmt.Fprintf(w, "method: %d round(s) interleaved, %.0fs per run after %.1fs warm-up, %d connections, %d subjects, %d paths per body\n",
		rep.Method.Rounds, rep.Method.DurationS, rep.Method.WarmupS, rep.Method.Conns, rep.Method.Subjects, rep.Method.Paths)
	for _, s := range rep.Skipped {
		fmt.Fprintln(w, s)
	}
	if len(rep.Rows) > 0 {
		fmt.Fprintln(w, "\n| contender | scenario | body | req/s median [min–max] | p50 | p99 | vs nginx (per round: median [min–max]) | vs fasthttp-floor (per round) | CPU µs/req user+kernel |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
		for _, r := range rep.Rows {
			errs := ""
			if r.Errors > 0 {
				errs = fmt.Sprintf(" (%d errors)", r.Errors)
			}
			cpu := "–"
			if r.CPUUserUS+r.CPUSysUS > 0 {
				cpu = fmt.Sprintf("%.1f + %.1f", r.CPUUserUS, r.CPUSysUS)
			}
			fmt.Fprintf(w, "| %s | %s | %s | %.0f [%.0f–%.0f]%s | %s | %s | %s | %s | %s |\n", r.Contender, r.Scenario, r.Body,
				r.MedianRPS, r.MinRPS, r.MaxRPS, errs, us(r.P50us), us(r.P99us),
				ratioRange(r.XNginx, r.XNginxMin, r.XNginxMax), ratioRange(r.XFloor, r.XFloorMin, r.XFloorMax), cpu)
		}
	}
	if len(rep.Cache) > 0 {
		fmt.Fprintln(w, "\nVeil decision cache over the timed runs (veil_decision_cache_hits_total / misses):")
		for _, c := range rep.Cache {
			fmt.Fprintf(w, "  %-26s %s\n", c.Contender, c.Rate)
		}
	}
	if l := rep.Latency; l != nil {
		fmt.Fprintf(w, "\nLatency at a fixed %.0f req/s (half of veil mask4's max %.0f req/s), %s body, open loop, median of rounds:\n\n",
			l.Rate, l.VeilMaxRPS, l.Body)
		fmt.Fprintln(w, "| target | p50 | p99 |")
		fmt.Fprintln(w, "|---|---|---|")
		fmt.Fprintf(w, "| direct | %s | %s |\n", us(l.DirectP50us), us(l.DirectP99us))
		if len(l.Floor) > 0 {
			fmt.Fprintf(w, "| fasthttp-floor (crosses the CPUs like veil) | %s | %s |\n", us(l.FloorP50us), us(l.FloorP99us))
		}
		fmt.Fprintf(w, "| veil mask4 | %s | %s |\n", us(l.VeilP50us), us(l.VeilP99us))
		fmt.Fprintf(w, "| **added by veil** | %s | **%s** |\n", us(l.AddedP50us), us(l.AddedP99us))
	}
	if s := rep.Scaling; s != nil {
		fmt.Fprintf(w, "\nScaling (veil, a fresh process per row, %d connections, median of rounds; RSS after the runs, peak in brackets)\n", s.Conns)
		fmt.Fprintln(w, "\nBody size (mask4):\n\n| body | req/s | MB/s | RSS |")
		fmt.Fprintln(w, "|---|---|---|---|")
		for _, p := range s.BySize {
			fmt.Fprintf(w, "| %s | %.1f | %.1f | %.1f MB (%.1f MB) |\n", p.Body, p.MedianRPS, p.MBps, float64(p.RSSKB)/1024, float64(p.HWMKB)/1024)
		}
		fmt.Fprintln(w, "\nRule count (mask rules, 250 KB body):\n\n| rules | req/s | MB/s | RSS |")
		fmt.Fprintln(w, "|---|---|---|---|")
		for _, p := range s.ByRules {
			fmt.Fprintf(w, "| %s | %.1f | %.1f | %.1f MB (%.1f MB) |\n", p.Label, p.MedianRPS, p.MBps, float64(p.RSSKB)/1024, float64(p.HWMKB)/1024)
		}
	}
	fmt.Fprintln(w)
}

// write stores <name>.json and, for the comparison, <name>.svg in dir.
func (rep *report) write(dir, name string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	if len(rep.Rows) > 0 {
		if err := os.WriteFile(filepath.Join(dir, name+".svg"), rep.svg(), 0o644); err != nil {
			return fmt.Errorf("results: %w", err)
		}
	}
	return nil
}

// svg draws one horizontal bar per contender and body: the median req/s,
// a whisker for min–max, scaled per body size.
func (rep *report) svg() []byte {
	const (
		width  = 900
		labelW = 230
		barH   = 18
		gap    = 6
		chartW = width - labelW - 150
	)
	var bodies []string
	for _, r := range rep.Rows {
		if !slices.Contains(bodies, r.Body) {
			bodies = append(bodies, r.Body)
		}
	}
	height := 50 + len(bodies)*40 + len(rep.Rows)*(barH+gap) + 30
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="22" font-size="15" font-weight="bold">Requests/s, median of %d rounds (whisker: min–max) — %s</text>`+"\n",
		rep.Method.Rounds, html.EscapeString(rep.Time))
	fmt.Fprintf(&b, `<text x="10" y="40" fill="#555">%s</text>`+"\n", html.EscapeString(rep.Pinning))
	y := 50
	for _, body := range bodies {
		y += 28
		fmt.Fprintf(&b, `<text x="10" y="%d" font-weight="bold">body %s</text>`+"\n", y, html.EscapeString(body))
		y += 12
		maxV := 0.0
		for _, r := range rep.Rows {
			if r.Body == body {
				maxV = math.Max(maxV, r.MaxRPS)
			}
		}
		for _, r := range rep.Rows {
			if r.Body != body {
				continue
			}
			scale := 0.0
			if maxV > 0 {
				scale = chartW / maxV
			}
			color := "#9aa5b1"
			if r.Contender == "veil" {
				color = "#2f6fdf"
			}
			w := r.MedianRPS * scale
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`, labelW-8, y+barH-5, html.EscapeString(r.label()))
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`, labelW, y, w, barH, color)
			fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="black"/>`,
				labelW+r.MinRPS*scale, labelW+r.MaxRPS*scale, y+barH/2, y+barH/2)
			fmt.Fprintf(&b, `<text x="%.1f" y="%d">%.0f</text>`+"\n", labelW+r.MaxRPS*scale+6, y+barH-5, r.MedianRPS)
			y += barH + gap
		}
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// cacheCounts are Veil's decision cache counters at one moment.
type cacheCounts struct {
	hits, misses float64
	ok           bool
}

type cacheLine struct {
	Contender string  `json:"contender"`
	Hits      float64 `json:"hits"`
	Misses    float64 `json:"misses"`
	Rate      string  `json:"hit_rate"`
}

// scrapeCache reads the cache counters from Veil's admin /metrics; a
// gateway without them reports n/a.
func scrapeCache(admin string) cacheCounts {
	status, body, err := fasthttp.GetTimeout(nil, "http://"+admin+"/metrics", 5*time.Second)
	if err != nil || status != 200 {
		return cacheCounts{}
	}
	h, okH := metricSum(body, "veil_decision_cache_hits_total")
	m, okM := metricSum(body, "veil_decision_cache_misses_total")
	return cacheCounts{hits: h, misses: m, ok: okH && okM}
}

// metricSum adds every sample of a counter (all label sets).
func metricSum(text []byte, name string) (float64, bool) {
	sum, found := 0.0, false
	for _, line := range strings.Split(string(text), "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			continue
		}
		sum += v
		found = true
	}
	return sum, found
}

func cacheStat(label string, before, after cacheCounts) cacheLine {
	l := cacheLine{Contender: label, Rate: "n/a (veil_decision_cache_* counters not exported)"}
	if !before.ok || !after.ok {
		return l
	}
	l.Hits, l.Misses = after.hits-before.hits, after.misses-before.misses
	if total := l.Hits + l.Misses; total > 0 {
		l.Rate = fmt.Sprintf("%.1f%% (%.0f hits, %.0f misses)", 100*l.Hits/total, l.Hits, l.Misses)
	} else {
		l.Rate = "n/a (no cacheable decisions)"
	}
	return l
}

// latencyReport is the -latency result.
type latencyReport struct {
	Body        string      `json:"body"`
	VeilMaxRPS  float64     `json:"veil_max_rps"`
	Rate        float64     `json:"rate"`
	Direct      []runResult `json:"direct_runs"`
	Floor       []runResult `json:"floor_runs"`
	Veil        []runResult `json:"veil_runs"`
	DirectP50us float64     `json:"direct_p50_us"`
	DirectP99us float64     `json:"direct_p99_us"`
	FloorP50us  float64     `json:"floor_p50_us"`
	FloorP99us  float64     `json:"floor_p99_us"`
	VeilP50us   float64     `json:"veil_p50_us"`
	VeilP99us   float64     `json:"veil_p99_us"`
	AddedP50us  float64     `json:"added_p50_us"`
	AddedP99us  float64     `json:"added_p99_us"`
}

func (l *latencyReport) finish() {
	pick := func(rs []runResult, f func(runResult) float64) float64 {
		var xs []float64
		for _, r := range rs {
			xs = append(xs, f(r))
		}
		return median(xs)
	}
	p50 := func(r runResult) float64 { return r.P50us }
	p99 := func(r runResult) float64 { return r.P99us }
	l.DirectP50us, l.DirectP99us = pick(l.Direct, p50), pick(l.Direct, p99)
	l.FloorP50us, l.FloorP99us = pick(l.Floor, p50), pick(l.Floor, p99)
	l.VeilP50us, l.VeilP99us = pick(l.Veil, p50), pick(l.Veil, p99)
	l.AddedP50us, l.AddedP99us = l.VeilP50us-l.DirectP50us, l.VeilP99us-l.DirectP99us
}

// scalingReport is the -scaling result.
type scalingReport struct {
	Conns   int          `json:"conns"`
	BySize  []scalePoint `json:"by_body_size"`
	ByRules []scalePoint `json:"by_rule_count"`
}

type scalePoint struct {
	Label     string      `json:"label"`
	Body      string      `json:"body"`
	BodyBytes int         `json:"body_bytes"`
	Runs      []runResult `json:"runs"`
	MedianRPS float64     `json:"median_rps"`
	MBps      float64     `json:"mb_per_s"`
	RSSKB     int         `json:"rss_kb"`
	HWMKB     int         `json:"peak_rss_kb"`
}

func (p *scalePoint) finish() {
	var xs []float64
	for _, r := range p.Runs {
		xs = append(xs, r.RPS)
	}
	p.MedianRPS = median(xs)
	p.MBps = p.MedianRPS * float64(p.BodyBytes) / 1e6
}
