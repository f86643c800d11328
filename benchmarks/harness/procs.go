package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// pinning is the CPU budget: load generator and upstream on Load, each
// contender (all its processes) on Contender.
type pinning struct {
	// On is false when taskset or a second CPU is missing; Why says which.
	On              bool
	Why             string
	Load, Contender int
}

// detectPinning picks the first two CPUs this process may run on.
func detectPinning() pinning {
	if _, err := exec.LookPath("taskset"); err != nil {
		return pinning{Why: "taskset not installed (util-linux): no CPU pinning, load and contender share all CPUs"}
	}
	cpus := allowedCPUs()
	if len(cpus) < 2 {
		return pinning{Why: fmt.Sprintf("only %d CPU available: no CPU pinning, load and contender share it", len(cpus))}
	}
	p := pinning{On: true, Load: cpus[0], Contender: cpus[1]}
	p.Why = fmt.Sprintf("load generator + upstream on CPU %d, contender (all its processes) on CPU %d (taskset)", p.Load, p.Contender)
	if len(cpus) > 2 {
		p.Why += fmt.Sprintf("; %d more CPUs left idle", len(cpus)-2)
	}
	return p
}

func cpuList(cpus []int) string {
	parts := make([]string, len(cpus))
	for i, c := range cpus {
		parts[i] = strconv.Itoa(c)
	}
	return strings.Join(parts, ",")
}

// allowedCPUs parses Cpus_allowed_list ("0-3,6") of this process.
func allowedCPUs() []int {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil
	}
	var out []int
	for _, line := range strings.Split(string(data), "\n") {
		list, ok := strings.CutPrefix(line, "Cpus_allowed_list:")
		if !ok {
			continue
		}
		for _, part := range strings.Split(strings.TrimSpace(list), ",") {
			lo, hi, isRange := strings.Cut(part, "-")
			a, err1 := strconv.Atoi(lo)
			b := a
			var err2 error
			if isRange {
				b, err2 = strconv.Atoi(hi)
			}
			if err1 != nil || err2 != nil {
				return nil
			}
			for c := a; c <= b; c++ {
				out = append(out, c)
			}
		}
	}
	return out
}

// Roles of a process in the CPU budget.
const (
	roleLoad      = 0
	roleContender = 1
)

// pinSelf moves every thread of this process to cpu. New threads inherit
// the mask of the thread that creates them.
func pinSelf(cpu int) error {
	out, err := exec.Command("taskset", "-a", "-p", "-c", strconv.Itoa(cpu), strconv.Itoa(os.Getpid())).CombinedOutput()
	if err != nil {
		return fmt.Errorf("taskset self: %v: %s", err, out)
	}
	return nil
}

// proc is a child process the harness started; it is stopped by its pid.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// procs tracks every child so that all are stopped on exit.
type procs struct {
	mu   sync.Mutex
	list []*proc
	pin  pinning
}

// start runs argv, pinned to the CPU of role (roleLoad or roleContender)
// when pinning is on, with stdout and stderr to logPath (stdout discarded
// when discardStdout).
func (ps *procs) start(name string, role int, logPath string, discardStdout bool, argv ...string) (*proc, error) {
	if ps.pin.On {
		c := ps.pin.Contender
		if role == roleLoad {
			c = ps.pin.Load
		}
		argv = append([]string{"taskset", "-c", strconv.Itoa(c)}, argv...)
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = logf
	if !discardStdout {
		cmd.Stdout = logf
	}
	// A harness killed hard must not leave contenders behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	ps.mu.Lock()
	ps.list = append(ps.list, p)
	ps.mu.Unlock()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, then SIGKILL after a grace period.
func (p *proc) stop() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (ps *procs) stopAll() {
	ps.mu.Lock()
	list := ps.list
	ps.list = nil
	ps.mu.Unlock()
	for i := len(list) - 1; i >= 0; i-- {
		list[i].stop()
	}
}

func (ps *procs) stopOne(p *proc) {
	p.stop()
	ps.mu.Lock()
	for i, q := range ps.list {
		if q == p {
			ps.list = append(ps.list[:i], ps.list[i+1:]...)
			break
		}
	}
	ps.mu.Unlock()
}

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, nil
}

// waitHTTP polls url until it answers with want (0: any status), the
// process exits, or the deadline passes.
func waitHTTP(ctx context.Context, p *proc, url string, want int, logPath string) error {
	deadline := time.Now().Add(60 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited during start (%v); log %s: %s", p.name, p.err, logPath, tail(logPath))
		}
		status, _, err := fasthttp.GetTimeout(nil, url, 2*time.Second)
		if err == nil && (want == 0 || status == want) {
			return nil
		}
		if err == nil {
			last = fmt.Errorf("status %d", status)
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready at %s: %v; log %s: %s", p.name, url, last, logPath, tail(logPath))
}

// tail returns the last lines of a log for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, " | ")
}

// rssKB reads VmRSS (resident memory now) of pid.
func rssKB(pid int) (int, error) { return statusKB(pid, "VmRSS:") }

// hwmKB reads VmHWM (peak resident memory) of pid.
func hwmKB(pid int) (int, error) { return statusKB(pid, "VmHWM:") }

// runQuiet runs a short command, returning its error only.
func runQuiet(name string, args ...string) error {
	return exec.Command(name, args...).Run()
}

// statusKB reads one kB field of /proc/<pid>/status.
func statusKB(pid int, key string) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("rss: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, key); ok {
			v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))
			n, err := strconv.Atoi(v)
			if err != nil {
				return 0, fmt.Errorf("rss: %w", err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("rss: no %s line", key)
}
