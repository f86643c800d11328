package main

import (
	"context"
	"fmt"
	"net"
	"os"
	osexec "os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/valyala/fasthttp"
)

// env is one harness run: its processes, fixtures and contenders.
type env struct {
	o        *options
	pin      pinning
	ps       *procs
	benchDir string
	www      string
	bodies   []*body
	subj     *subjects
	upstream string
	// upstreamKind says what serves the fixtures.
	upstreamKind string
	nginx        string
	opa          string
	contenders   []*contender
	skipped      []string
	// veilN numbers Veil processes (their run directories).
	veilN int
	// stopFns stop in-process servers.
	stopFns []func()
}

// run performs one harness run in the mode of o and returns its report.
func run(ctx context.Context, o options) (*report, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	e := &env{o: &o, benchDir: o.BenchDir}
	// Configs and logs of an earlier run would only confuse.
	if err := os.RemoveAll(filepath.Join(e.benchDir, "run")); err != nil {
		return nil, fmt.Errorf("bench dir: %w", err)
	}
	if err := os.MkdirAll(e.benchDir, 0o755); err != nil {
		return nil, fmt.Errorf("bench dir: %w", err)
	}
	if err := os.MkdirAll(o.BinDir, 0o755); err != nil {
		return nil, fmt.Errorf("bin dir: %w", err)
	}
	// Builds first: once pinned, the compiler would get one core.
	if err := buildBinaries(&o); err != nil {
		return nil, err
	}
	e.pin = detectPinning()
	cpusBefore := cpuList(allowedCPUs())
	e.ps = &procs{pin: e.pin}
	defer e.ps.stopAll()
	if e.pin.On {
		if err := pinSelf(e.pin.Load); err != nil {
			e.pin = pinning{Why: "pinning failed (" + err.Error() + "): load and contenders share all CPUs"}
			e.ps.pin = e.pin
		} else {
			// One core: more Ps would only time-slice it.
			prev := runtime.GOMAXPROCS(1)
			defer func() {
				runtime.GOMAXPROCS(prev)
				// Let a test process have its CPUs back.
				_ = runQuiet("taskset", "-a", "-p", "-c", cpusBefore, fmt.Sprint(os.Getpid()))
			}()
		}
	}
	fmt.Fprintf(o.Log, "CPU budget: %s\n", e.pin.Why)

	defer func() {
		for _, f := range e.stopFns {
			f()
		}
	}()
	if err := e.setup(ctx); err != nil {
		return nil, err
	}
	var rep *report
	var err error
	switch o.Mode {
	case "latency":
		rep, err = e.latency(ctx)
	case "scaling":
		rep, err = e.scaling(ctx)
	default:
		rep, err = e.compare(ctx)
	}
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// setup writes fixtures and starts the upstream.
func (e *env) setup(ctx context.Context) error {
	o := e.o
	if err := os.WriteFile(filepath.Join(e.benchDir, "jwt-secret"), jwtSecret, 0o600); err != nil {
		return fmt.Errorf("jwt secret: %w", err)
	}
	e.www = filepath.Join(e.benchDir, "www")
	if o.Mode != "scaling" {
		for _, n := range o.Bodies {
			b, err := makeBody(e.www, n, o.Pages)
			if err != nil {
				return err
			}
			e.bodies = append(e.bodies, b)
		}
	} else if customerPool == nil {
		if _, err := makeBody(e.www, 1, 1); err != nil {
			return err
		}
	}
	var err error
	if e.subj, err = mintSubjects(jwtSecret, o.Subjects); err != nil {
		return err
	}
	if !slices.Contains(o.Without, "nginx") {
		e.nginx = findNginx()
	}
	if !slices.Contains(o.Without, "opa") {
		e.opa = findOPA(o)
	}
	return e.startUpstream(ctx)
}

// findOPA looks in the bin dir, then .work/bin, then PATH.
func findOPA(o *options) string {
	for _, p := range []string{filepath.Join(o.BinDir, "opa"), filepath.Join(o.Root, ".work", "bin", "opa")} {
		if fileExists(p) {
			return p
		}
	}
	if p, err := osexec.LookPath("opa"); err == nil {
		return p
	}
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func (e *env) runDir(name string) (string, error) {
	d := filepath.Join(e.benchDir, "run", name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return "", fmt.Errorf("run dir: %w", err)
	}
	return d, nil
}

// startUpstream starts nginx serving the fixtures on the load generator's
// core; without nginx an in-process fasthttp file server stands in (and
// the output says so).
func (e *env) startUpstream(ctx context.Context) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	if e.nginx == "" {
		srv := &fasthttp.Server{Handler: fasthttp.FSHandler(e.www, 0), Name: "bench-upstream"}
		ln, err := net.Listen("tcp4", addr)
		if err != nil {
			return fmt.Errorf("upstream: %w", err)
		}
		go func() { _ = srv.Serve(ln) }()
		e.upstream = addr
		e.upstreamKind = "in-process fasthttp file server (nginx not installed), on the load generator's CPU"
		e.stopFns = append(e.stopFns, func() { _ = srv.Shutdown() })
		return nil
	}
	dir, err := e.runDir("upstream")
	if err != nil {
		return err
	}
	conf, err := writeNginx(dir, upstreamConf(dir, e.www, addr), false)
	if err != nil {
		return err
	}
	logPath := filepath.Join(dir, "stderr.log")
	if _, err := e.launch(ctx, "upstream nginx", roleLoad, logPath, false,
		"http://"+addr+"/", 0, filepath.Join(dir, "error.log"), nginxArgs(e.nginx, dir, conf)...); err != nil {
		return err
	}
	e.upstream = addr
	e.upstreamKind = "nginx static files (1 worker, keep-alive, sendfile), on the load generator's CPU"
	return nil
}

// wanted applies -only.
func (e *env) wanted(label string) bool {
	if label == "direct" || len(e.o.Only) == 0 {
		return true
	}
	for _, s := range e.o.Only {
		if s != "" && strings.Contains(label, s) {
			return true
		}
	}
	return false
}

func (e *env) skip(label, why string) {
	line := fmt.Sprintf("skipped: %s: %s", label, why)
	e.skipped = append(e.skipped, line)
	fmt.Fprintln(e.o.Log, line)
}

// startContenders starts every installed contender of the comparison.
func (e *env) startContenders(ctx context.Context) error {
	e.contenders = append(e.contenders, &contender{Name: "direct", Addr: e.upstream, Expect: expectIdentity})
	if e.wanted("nginx") {
		if e.nginx == "" {
			e.skip("nginx", "nginx not installed (scripts/bench-deps.sh installs it)")
		} else if err := e.add(e.startNginxProxy(ctx)); err != nil {
			return err
		}
	}
	if e.wanted("fasthttp-floor") {
		if err := e.add(e.startFloor(ctx)); err != nil {
			return err
		}
	}
	if e.wanted("nginx+opa+njs") {
		switch {
		case e.nginx == "":
			e.skip("nginx+opa+njs", "nginx not installed (scripts/bench-deps.sh installs it)")
		case !haveNJS():
			e.skip("nginx+opa+njs", "njs not installed (libnginx-mod-http-js; scripts/bench-deps.sh installs it)")
		case e.opa == "":
			e.skip("nginx+opa+njs", "opa not installed (scripts/bench-deps.sh builds it into .work/bin)")
		default:
			if err := e.add(e.startComposite(ctx)); err != nil {
				return err
			}
		}
	}
	for _, sc := range veilScenarios() {
		if !e.wanted("veil " + sc.Name) {
			continue
		}
		c, _, err := e.startVeil(ctx, sc)
		if err := e.add(c, err); err != nil {
			return err
		}
	}
	return nil
}

// add appends a started contender (the result of a start function).
func (e *env) add(c *contender, err error) error {
	if err != nil {
		return err
	}
	e.contenders = append(e.contenders, c)
	return nil
}

// launch starts a process (see procs.start) and waits until url answers
// with status want (0: any) or the process dies; readyLog is shown when it
// does not come up.
func (e *env) launch(ctx context.Context, name string, role int, logPath string, discardStdout bool, url string, want int, readyLog string, argv ...string) (*proc, error) {
	p, err := e.ps.start(name, role, logPath, discardStdout, argv...)
	if err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, p, url, want, readyLog); err != nil {
		return nil, err
	}
	return p, nil
}

func (e *env) startNginxProxy(ctx context.Context) (*contender, error) {
	dir, err := e.runDir("nginx")
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	conf, err := writeNginx(dir, proxyConf(dir, addr, e.upstream), false)
	if err != nil {
		return nil, err
	}
	p, err := e.launch(ctx, "nginx", roleContender, filepath.Join(dir, "stderr.log"), false,
		"http://"+addr+"/", 0, filepath.Join(dir, "error.log"), nginxArgs(e.nginx, dir, conf)...)
	if err != nil {
		return nil, err
	}
	return &contender{Name: "nginx", Addr: addr, Expect: expectIdentity, Pid: p.pid()}, nil
}

func (e *env) startFloor(ctx context.Context) (*contender, error) {
	dir, err := e.runDir("floor")
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{filepath.Join(e.o.BinDir, "bench-floor"), "-listen", addr, "-upstream", e.upstream}
	var pprofAddr string
	if e.o.ProfileDir != "" {
		if pprofAddr, err = freeAddr(); err != nil {
			return nil, err
		}
		args = append(args, "-pprof", pprofAddr)
	}
	logPath := filepath.Join(dir, "stderr.log")
	p, err := e.launch(ctx, "fasthttp-floor", roleContender, logPath, true, "http://"+addr+"/", 0, logPath, args...)
	if err != nil {
		return nil, err
	}
	return &contender{Name: "fasthttp-floor", Addr: addr, Expect: expectIdentity, PprofAddr: pprofAddr, Pid: p.pid()}, nil
}

// startComposite starts OPA and nginx+njs, both on the contender's core.
func (e *env) startComposite(ctx context.Context) (*contender, error) {
	dir, err := e.runDir("composite")
	if err != nil {
		return nil, err
	}
	polDir := filepath.Join(dir, "policy")
	if err := os.MkdirAll(polDir, 0o755); err != nil {
		return nil, fmt.Errorf("composite: %w", err)
	}
	if err := os.WriteFile(filepath.Join(polDir, "bench.rego"), []byte(regoPolicy(maskRules4)), 0o644); err != nil {
		return nil, fmt.Errorf("composite: %w", err)
	}
	opaAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	opaLog := filepath.Join(dir, "opa.log")
	if _, err := e.launch(ctx, "opa", roleContender, opaLog, false, "http://"+opaAddr+"/health", 200, opaLog,
		e.opa, "run", "--server", "--addr", opaAddr, "--skip-version-check", "--log-level", "error", polDir); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	conf, err := writeNginx(dir, compositeConf(dir, addr, e.upstream, opaAddr), true)
	if err != nil {
		return nil, err
	}
	p, err := e.launch(ctx, "nginx+opa+njs", roleContender, filepath.Join(dir, "stderr.log"), false,
		"http://"+addr+"/", 0, filepath.Join(dir, "error.log"), nginxArgs(e.nginx, dir, conf)...)
	if err != nil {
		return nil, err
	}
	return &contender{Name: "nginx+opa+njs", Scenario: "mask4", Addr: addr,
		Expect: expectMasked, Denies: true, Pid: p.pid()}, nil
}

// startVeil starts `veil serve` with the generated config of sc.
func (e *env) startVeil(ctx context.Context, sc veilScenario) (*contender, *proc, error) {
	e.veilN++
	dir, err := e.runDir(fmt.Sprintf("veil-%02d-%s", e.veilN, strings.ReplaceAll(sc.Name, "+", "-")))
	if err != nil {
		return nil, nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, nil, err
	}
	admin, err := freeAddr()
	if err != nil {
		return nil, nil, err
	}
	cfg, auditPath, err := writeVeilConfig(dir, e.benchDir, sc, addr, admin, e.upstream, e.o.ProfileDir != "")
	if err != nil {
		return nil, nil, err
	}
	logPath := filepath.Join(dir, "stderr.log")
	// stdout is the audit sink of the scenarios without a file sink: the
	// events are encoded, chained and written, then discarded by /dev/null.
	p, err := e.launch(ctx, "veil "+sc.Name, roleContender, logPath, true, "http://"+admin+"/readyz", 200, logPath,
		filepath.Join(e.o.BinDir, "veil"), "serve", "--config", cfg, "--grace", "2s")
	if err != nil {
		return nil, nil, err
	}
	c := &contender{Name: "veil", Scenario: sc.Name, Addr: addr, Expect: sc.Expect, Denies: sc.Denies,
		AdminAddr: admin, AuditFile: auditPath, Pid: p.pid()}
	if e.o.ProfileDir != "" {
		c.PprofAddr = admin // admin_pprof is on
	}
	return c, p, nil
}

// compare is the main table: every contender, interleaved rounds.
func (e *env) compare(ctx context.Context) (*report, error) {
	o := e.o
	if err := e.startContenders(ctx); err != nil {
		return nil, err
	}
	for _, b := range e.bodies {
		for _, c := range e.contenders {
			if err := check(c, b, e.subj); err != nil {
				return nil, err
			}
		}
	}
	fmt.Fprintf(o.Log, "checked: %d contenders return the expected bytes (and deny the suspended subject where a policy runs)\n", len(e.contenders))
	rep := e.newReport()
	rep.Contenders = map[string]string{}
	for _, c := range e.contenders {
		rep.Contenders[c.label()] = descriptions[c.label()]
	}
	rows := map[string]*row{}
	var order []*row
	for _, b := range e.bodies {
		for _, c := range e.contenders {
			r := &row{Contender: c.Name, Scenario: c.Scenario, Body: b.Label, BodyBytes: b.Bytes}
			rows[c.label()+"|"+b.Label] = r
			order = append(order, r)
		}
	}
	before := map[string]cacheCounts{}
	for _, c := range e.contenders {
		if c.AdminAddr != "" {
			before[c.label()] = scrapeCache(c.AdminAddr)
		}
	}
	for round := 1; round <= o.Rounds; round++ {
		for _, b := range e.bodies {
			for _, c := range e.contenders {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				lens, err := expectedLengths(b, c.Expect)
				if err != nil {
					return nil, err
				}
				w := &workload{bearer: e.subj.Bearer, paths: b.Paths, wantLen: lens}
				var prof chan error
				profPath := filepath.Join(o.ProfileDir, strings.ReplaceAll(c.label(), " ", "-")+"-"+b.Label+".pprof")
				if o.ProfileDir != "" && c.PprofAddr != "" && round == o.Rounds {
					prof = make(chan error, 1)
					go func() { prof <- saveProfile(ctx, c.PprofAddr, o.Warmup, o.Duration, profPath) }()
				}
				res := w.run(ctx, loadSpec{addr: c.Addr, conns: o.Conns, warmup: o.Warmup, duration: o.Duration, cpu: e.contenderCPU(c)})
				if prof != nil {
					if err := <-prof; err != nil {
						fmt.Fprintf(o.Log, "profile %s: %v\n", c.label(), err)
					} else {
						// Contenders differ in rate: their profiles compare
						// per request (sample time / requests in the window).
						fmt.Fprintf(o.Log, "profile %s %s: %s, ≈ %.0f requests profiled (%.0f req/s)\n",
							c.label(), b.Label, profPath, res.RPS*float64(profileSeconds(o.Duration)), res.RPS)
					}
				}
				fmt.Fprintf(o.Log, "round %d/%d %-8s %-28s %9.0f req/s  p50 %7.0f µs  p99 %7.0f µs  cpu %5.1f+%5.1f µs/req  errors %d %s\n",
					round, o.Rounds, b.Label, c.label(), res.RPS, res.P50us, res.P99us, res.CPUUserUS, res.CPUSysUS, res.Errors, res.FirstError)
				r := rows[c.label()+"|"+b.Label]
				r.Runs = append(r.Runs, res)
			}
		}
	}
	for _, c := range e.contenders {
		if c.AdminAddr == "" {
			continue
		}
		after := scrapeCache(c.AdminAddr)
		rep.Cache = append(rep.Cache, cacheStat(c.label(), before[c.label()], after))
	}
	rep.Rows = order
	rep.finish()
	rep.print(o.Log)
	if err := rep.write(o.OutDir, "results"); err != nil {
		return nil, err
	}
	return rep, nil
}

// contenderCPU is the CPU whose busy time is c's cost: its own CPU when
// pinned; none for direct (the upstream shares the load generator's CPU)
// or without pinning.
func (e *env) contenderCPU(c *contender) int {
	if !e.pin.On || c.Name == "direct" {
		return -1
	}
	return e.pin.Contender
}

// latency: p99 added latency of Veil (mask4) over direct at a fixed rate of
// half Veil's measured maximum.
func (e *env) latency(ctx context.Context) (*report, error) {
	o := e.o
	b := e.bodies[0]
	sc := veilScenarios()[2] // mask4
	vc, _, err := e.startVeil(ctx, sc)
	if err != nil {
		return nil, err
	}
	direct := &contender{Name: "direct", Addr: e.upstream, Expect: expectIdentity}
	// The floor crosses the two CPUs like Veil does (load generator ->
	// proxy -> upstream -> proxy -> load generator): the tail it shows at
	// the same rate is the setup's, not Veil's.
	floor, err := e.startFloor(ctx)
	if err != nil {
		return nil, err
	}
	targets := []*contender{direct, floor, vc}
	for _, c := range targets {
		if err := check(c, b, e.subj); err != nil {
			return nil, err
		}
	}
	lens, err := expectedLengths(b, expectMasked)
	if err != nil {
		return nil, err
	}
	w := &workload{bearer: e.subj.Bearer, paths: b.Paths, wantLen: lens}
	maxRes := w.run(ctx, loadSpec{addr: vc.Addr, conns: o.Conns, warmup: o.Warmup, duration: o.Duration})
	if maxRes.RPS <= 0 {
		return nil, fmt.Errorf("latency: veil served nothing (%s)", maxRes.FirstError)
	}
	rate := maxRes.RPS / 2
	fmt.Fprintf(o.Log, "veil mask4 max %.0f req/s (%s); open loop at %.0f req/s\n", maxRes.RPS, b.Label, rate)
	rep := e.newReport()
	lat := &latencyReport{Body: b.Label, VeilMaxRPS: maxRes.RPS, Rate: rate}
	for round := 1; round <= o.Rounds; round++ {
		for _, c := range targets {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			lens, err := expectedLengths(b, c.Expect)
			if err != nil {
				return nil, err
			}
			w := &workload{bearer: e.subj.Bearer, paths: b.Paths, wantLen: lens}
			res := w.run(ctx, loadSpec{addr: c.Addr, conns: o.Conns, warmup: o.Warmup, duration: o.Duration, rate: rate})
			fmt.Fprintf(o.Log, "round %d/%d %-16s %7.0f req/s  p50 %7.0f µs  p99 %7.0f µs  errors %d %s\n",
				round, o.Rounds, c.label(), res.RPS, res.P50us, res.P99us, res.Errors, res.FirstError)
			switch c {
			case direct:
				lat.Direct = append(lat.Direct, res)
			case floor:
				lat.Floor = append(lat.Floor, res)
			default:
				lat.Veil = append(lat.Veil, res)
			}
		}
	}
	lat.finish()
	rep.Latency = lat
	rep.print(o.Log)
	if err := rep.write(o.OutDir, "latency"); err != nil {
		return nil, err
	}
	return rep, nil
}

// scalingSizes are the body sizes of the scaling curve.
var scalingSizes = []int{1_000, 10_000, 100_000, 1_000_000, 10_000_000}

// scalingRules are the rule counts of the scaling curve.
var scalingRules = []int{1, 4, 16, 64}

// scaling: a fresh Veil (mask4) per body size, then a fresh Veil per rule
// count on the 250 KB body; throughput and RSS of each.
func (e *env) scaling(ctx context.Context) (*report, error) {
	o := e.o
	conns := min(o.Conns, 16) // 10 MB bodies: bound what is in flight
	rep := e.newReport()
	sc := &scalingReport{Conns: conns}
	measure := func(label string, b *body, vs veilScenario) (scalePoint, error) {
		c, p, err := e.startVeil(ctx, vs)
		if err != nil {
			return scalePoint{}, err
		}
		defer e.ps.stopOne(p)
		if err := check(c, b, e.subj); err != nil {
			return scalePoint{}, err
		}
		lens, err := expectedLengths(b, c.Expect)
		if err != nil {
			return scalePoint{}, err
		}
		w := &workload{bearer: e.subj.Bearer, paths: b.Paths, wantLen: lens}
		pt := scalePoint{Label: label, Body: b.Label, BodyBytes: b.Bytes}
		for round := 1; round <= o.Rounds; round++ {
			if err := ctx.Err(); err != nil {
				return pt, err
			}
			res := w.run(ctx, loadSpec{addr: c.Addr, conns: conns, warmup: o.Warmup, duration: o.Duration})
			pt.Runs = append(pt.Runs, res)
		}
		pt.RSSKB, _ = rssKB(c.Pid)
		pt.HWMKB, _ = hwmKB(c.Pid)
		pt.finish()
		fmt.Fprintf(o.Log, "scaling %-10s %-8s %9.1f req/s  %8.1f MB/s  RSS %6.1f MB (peak %6.1f MB)\n",
			label, b.Label, pt.MedianRPS, pt.MBps, float64(pt.RSSKB)/1024, float64(pt.HWMKB)/1024)
		return pt, nil
	}
	for _, size := range scalingSizes {
		n := customersFor(size)
		pages := 8
		if size >= 1_000_000 {
			pages = 4
		}
		b, err := makeBody(e.www, n, pages)
		if err != nil {
			return nil, err
		}
		pt, err := measure("mask4", b, veilScenarios()[2])
		if err != nil {
			return nil, err
		}
		sc.BySize = append(sc.BySize, pt)
	}
	b, err := makeBody(e.www, 1000, o.Pages)
	if err != nil {
		return nil, err
	}
	for _, n := range scalingRules {
		vs := veilScenario{Name: fmt.Sprintf("mask%d", n), Policy: regoPolicy(maskRulesN(n)), Expect: expectJSON, Denies: true}
		if n == 4 {
			vs.Expect = expectMasked
		}
		pt, err := measure(fmt.Sprintf("%d rules", n), b, vs)
		if err != nil {
			return nil, err
		}
		sc.ByRules = append(sc.ByRules, pt)
	}
	rep.Scaling = sc
	rep.print(o.Log)
	if err := rep.write(o.OutDir, "scaling"); err != nil {
		return nil, err
	}
	return rep, nil
}
