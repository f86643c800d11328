// Command harness is Veil's comparative load benchmark: in one run it
// starts, on loopback, a static nginx upstream serving CRM-shaped JSON
// fixtures and, in front of it, every contender (direct, plain nginx, a
// bare fasthttp forwarder, nginx+OPA+njs, and Veil in several scenarios),
// checks that each one returns the right bytes, then loads them in
// interleaved rounds with a Go load generator, CPU-pinned with taskset.
// It prints a table and writes results JSON and an SVG chart.
//
//	go run ./benchmarks/harness              # the full comparison (scripts/bench.sh)
//	go run ./benchmarks/harness -smoke       # seconds: every installed contender once
//	go run ./benchmarks/harness -latency     # p99 added latency of Veil at half its max rate
//	go run ./benchmarks/harness -scaling     # throughput and RSS vs body size and rule count
//
// Everything it generates goes to the git-ignored .work/bench; only the
// results (-out, default benchmarks/results) are meant to be committed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// options is the whole configuration of one harness run.
type options struct {
	// Root is the repository root (found from the working directory).
	Root string
	// BenchDir receives fixtures, configs, keys and logs. Default
	// <root>/.work/bench.
	BenchDir string
	// BinDir holds veil, bench-floor and opa. Default <root>/.work/bin.
	BinDir string
	// Build rebuilds veil and bench-floor into BinDir first. Default: only
	// when missing.
	Build bool
	// OutDir receives results JSON and chart. Default
	// <root>/benchmarks/results (smoke: <root>/.work/bench/smoke).
	OutDir string
	// Rounds of A B C ... interleaving. Default 5.
	Rounds int
	// Duration of one timed run; Warmup before it is not counted.
	Duration, Warmup time.Duration
	// Conns is the number of load connections. Default 64.
	Conns int
	// Bodies: customers per page (10: 2.4 KB, 1000: 250 KB).
	Bodies []int
	// Pages: distinct record paths per body size. Default 64.
	Pages int
	// Subjects: distinct JWT subjects. Default 256.
	Subjects int
	// Only restricts the contenders to labels containing one of these.
	Only []string
	// Mode: "" (comparison), "latency" or "scaling".
	Mode string
	// ProfileDir, when set, turns on Veil's admin_pprof and the floor's
	// -pprof and saves a CPU profile of every Veil and floor run of the
	// last round there (<label>-<body>.pprof; the log gives each one's
	// request count, to compare them per request). The last round is the
	// steady state: by then each subject/path pair's decision is cached,
	// so the profile is not the first round's misses. Profiling costs a few
	// percent, so figures of such a run are not the reference ones.
	ProfileDir string
	// Without lists tools to treat as not installed ("nginx", "opa"), to
	// exercise the fallbacks where they are installed.
	Without []string
	// Smoke marks a bounded run (results not written to benchmarks/).
	Smoke bool
	// Log receives progress and tables. Default stdout.
	Log io.Writer
}

func main() {
	var o options
	var bodies, only, without string
	var latency, scaling bool
	flag.StringVar(&o.BinDir, "bin", "", "directory of veil, bench-floor and opa (default <root>/.work/bin)")
	flag.BoolVar(&o.Build, "build", false, "rebuild veil and bench-floor into -bin first (default: only when missing)")
	flag.StringVar(&o.OutDir, "out", "", "results directory (default <root>/benchmarks/results; smoke: .work/bench/smoke)")
	flag.IntVar(&o.Rounds, "rounds", 5, "interleaved rounds (A B C A B C ...)")
	flag.DurationVar(&o.Duration, "duration", 10*time.Second, "timed length of one run")
	flag.DurationVar(&o.Warmup, "warmup", time.Second, "warm-up before each run (not counted)")
	flag.IntVar(&o.Conns, "conns", 64, "load connections")
	flag.StringVar(&bodies, "bodies", "10,1000", "body sizes as customers per page (10: 2.4 KB, 1000: 250 KB)")
	flag.IntVar(&o.Pages, "pages", 64, "distinct record paths per body size (>= 50)")
	flag.IntVar(&o.Subjects, "subjects", 256, "distinct JWT subjects (>= 200)")
	flag.StringVar(&only, "only", "", "comma-separated substrings: run only matching contenders (direct always runs)")
	flag.StringVar(&without, "without", "", "comma-separated tools to treat as not installed: nginx, opa")
	flag.BoolVar(&latency, "latency", false, "p99 added latency of veil mask4 over direct at half of veil's max rate")
	flag.BoolVar(&scaling, "scaling", false, "veil throughput and RSS as body size (1 KB-10 MB) and rule count (1-64) grow")
	flag.StringVar(&o.ProfileDir, "profile", "", "save a CPU profile of each veil and fasthttp-floor run of the last round into this directory (go tool pprof)")
	flag.BoolVar(&o.Smoke, "smoke", false, "bounded run: 1 round of 1 s, small body, every installed contender")
	flag.Parse()

	for _, s := range strings.Split(bodies, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "harness: bad -bodies %q\n", bodies)
			os.Exit(2)
		}
		o.Bodies = append(o.Bodies, n)
	}
	if only != "" {
		o.Only = strings.Split(only, ",")
	}
	if without != "" {
		o.Without = strings.Split(without, ",")
	}
	switch {
	case latency && scaling:
		fmt.Fprintln(os.Stderr, "harness: -latency and -scaling are separate runs")
		os.Exit(2)
	case latency:
		o.Mode = "latency"
	case scaling:
		o.Mode = "scaling"
	}
	if o.Smoke {
		o.smokeDefaults()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		stop()
		os.Exit(1)
	}
}

// smokeDefaults bounds a run to seconds.
func (o *options) smokeDefaults() {
	o.Rounds = 1
	o.Duration = time.Second
	o.Warmup = 200 * time.Millisecond
	o.Conns = 8
	o.Bodies = []int{10}
}

func (o *options) fill() error {
	if o.Root == "" {
		root, err := findRoot()
		if err != nil {
			return err
		}
		o.Root = root
	}
	if o.BenchDir == "" {
		o.BenchDir = filepath.Join(o.Root, ".work", "bench")
	}
	if o.BinDir == "" {
		o.BinDir = filepath.Join(o.Root, ".work", "bin")
	}
	if o.OutDir == "" {
		if o.Smoke {
			o.OutDir = filepath.Join(o.BenchDir, "smoke")
		} else {
			o.OutDir = filepath.Join(o.Root, "benchmarks", "results")
		}
	}
	if o.Log == nil {
		o.Log = os.Stdout
	}
	if o.Rounds < 1 || o.Conns < 1 || o.Duration <= 0 || len(o.Bodies) == 0 {
		return errors.New("rounds, conns, duration and bodies must be positive")
	}
	if o.Pages < 50 && !o.Smoke {
		return fmt.Errorf("-pages %d: at least 50 distinct paths keep caches honest", o.Pages)
	}
	if o.Subjects < 200 && !o.Smoke {
		return fmt.Errorf("-subjects %d: at least 200 distinct subjects keep caches honest", o.Subjects)
	}
	if o.Pages < 1 {
		o.Pages = 64
	}
	if o.Subjects < len(roleMix) {
		o.Subjects = 256
	}
	return nil
}

// findRoot walks up from the working directory to the module root.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("root: %w", err)
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			strings.Contains(string(data), "module github.com/veilgw/veil\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("root: not inside the veil module (no go.mod of github.com/veilgw/veil above the working directory)")
		}
		dir = parent
	}
}

// buildBinaries builds veil and the fasthttp floor when asked or missing.
func buildBinaries(o *options) error {
	for _, b := range []struct{ out, pkg string }{
		{"veil", "./cmd/veil"},
		{"bench-floor", "./benchmarks/floor"},
	} {
		out := filepath.Join(o.BinDir, b.out)
		if _, err := os.Stat(out); err == nil && !o.Build {
			continue
		}
		fmt.Fprintf(o.Log, "building %s into %s\n", b.pkg, out)
		cmd := exec.Command("go", "build", "-o", out, b.pkg)
		cmd.Dir = o.Root
		if msg, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %v\n%s", b.pkg, err, msg)
		}
	}
	return nil
}
