package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/veilgw/veil/audit"
	"github.com/veilgw/veil/internal/syncbuf"
)

// TestCrashMidLoadThenRestart kills a real `veil serve` process with
// SIGKILL while 8 connections load it, restarts it on the same config,
// stops it gracefully, and checks that `veil audit verify` tells exactly
// what the file shows: no damage, the crashed chain's events after its last
// checkpoint as an unverified tail (file and line), and the second chain
// linked to the checkpoint the state file held at the crash.
func TestCrashMidLoadThenRestart(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGKILL and SIGTERM")
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"c-1","name":"x"}`)
	}))
	defer up.Close()

	dir := t.TempDir()
	trail := filepath.Join(dir, "trail", "audit.log")
	writeFile(t, filepath.Join(dir, "rego", "p.rego"), "package veil\ndecision := {\"allow\": true}\n")
	cfg := filepath.Join(dir, "veil.yaml")
	writeFile(t, cfg, strings.Join([]string{
		"listen: 127.0.0.1:0",
		"admin_listen: 127.0.0.1:0",
		"routes: [{name: api, match: {path_prefix: /api/}, strip_prefix: true, upstreams: ['" + up.URL + "']}]",
		"policy: {dir: " + filepath.Join(dir, "rego") + "}",
		"keys: {local: {file: " + filepath.Join(dir, "dev-keys.json") + "}}",
		// Checkpoints by count only: the crash tail is whatever follows
		// the last multiple of 100 that reached the file.
		"audit: {on_failure: deny, checkpoint: {every_events: 100, every: 1h}, sinks: [{type: file, path: " + trail + "}]}",
	}, "\n")+"\n")

	// Run 1: load, then SIGKILL mid-load.
	p1 := startVeil(t, "serve", "--config", cfg, "--grace", "5s")
	p1.waitReady(t)
	var ok200, other, errsBefore, sent atomic.Int64
	var killed atomic.Bool
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := &http.Transport{MaxIdleConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p1.listen+"/api/customers/1", nil)
				sent.Add(1)
				resp, err := c.Do(req)
				if err != nil {
					if killed.Load() {
						return
					}
					errsBefore.Add(1)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					ok200.Add(1)
				} else {
					other.Add(1)
				}
			}
		}()
	}
	// Kill once 1550 requests were answered (not a multiple of the
	// checkpoint interval, so a crash tail is likely) and the state file
	// names a delivered checkpoint (so the restart has a link to check;
	// delivery may lag far behind the answers on a busy machine).
	statePath := filepath.Join(dir, "trail", ".audit.log.state")
	deadline := time.Now().Add(15 * time.Second)
	for ok200.Load() < 1550 || !fileExists(statePath) {
		if time.Now().After(deadline) || p1.exited() {
			killed.Store(true)
			cancel()
			wg.Wait()
			t.Fatalf("only %d requests answered 200 (%d other statuses, %d errors); veil stderr:\n%s",
				ok200.Load(), other.Load(), errsBefore.Load(), p1.stderr.String())
		}
		time.Sleep(time.Millisecond)
	}
	okAtKill := ok200.Load()
	killed.Store(true)
	if err := p1.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill: %v", err)
	}
	ps := p1.wait(t, 10*time.Second)
	cancel()
	wg.Wait()
	if ws, ok := ps.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("run 1 ended with %v, not by SIGKILL; stderr:\n%s", ps, p1.stderr.String())
	}
	t.Logf("run 1: %d answered 200 before the kill, %d requests sent in all, %d other statuses, %d errors before the kill",
		okAtKill, sent.Load(), other.Load(), errsBefore.Load())
	if other.Load() != 0 || errsBefore.Load() != 0 {
		t.Errorf("under light load every request should be answered 200: %d other statuses, %d errors", other.Load(), errsBefore.Load())
	}

	// What the verifier must say, computed from the file and the state
	// file as the crash left them.
	crashed := readTrail(t, trail)
	if len(crashed.torn) > 0 {
		// The verifier cannot tell this fragment from an edit, and run 2
		// appends its segment record to it: see the report below.
		t.Errorf("the kill left a torn last line (%d bytes at offset %d; file size %d, size %% 4096 = %d): %q",
			len(crashed.torn), len(crashed.lines)-len(crashed.torn), len(crashed.lines), len(crashed.lines)%4096, crashed.torn)
	}
	a := crashed.chains[0]
	if len(crashed.chains) != 1 || crashed.segments[a] == nil || crashed.segments[a].prev != "" {
		t.Fatalf("run 1's file: chains %v, segments %v: want one chain that starts with an unlinked segment", crashed.chains, crashed.segments)
	}
	ca := crashed.byID[a]
	if ca.events < 1 || int64(ca.events) > sent.Load() {
		t.Fatalf("run 1 left %d events for %d requests sent", ca.events, sent.Load())
	}
	c := ca.lastCheckpoint()
	var tailLine int
	if ca.lastSeq > c {
		tailLine = ca.lineOf[c+1]
	}
	t.Logf("crashed chain %s: %d events (seq 1..%d), checkpoints %v, tail line %d",
		a, ca.events, ca.lastSeq, ca.checkpoints, tailLine)
	state := readState(t, statePath)
	if state.ChainID != a || !slices.Contains(ca.checkpoints, state.Seq) || state.Seq > c {
		t.Fatalf("state file at the crash: %+v; chain %s has checkpoints %v", state, a, ca.checkpoints)
	}
	crashedLines := crashed.lines

	// Run 2: same config, a few requests, graceful stop.
	p2 := startVeil(t, "serve", "--config", cfg, "--grace", "5s")
	p2.waitReady(t)
	const run2 = 5
	for i := range run2 {
		resp, err := http.Get("http://" + p2.listen + "/api/customers/" + strconv.Itoa(i))
		if err != nil {
			t.Fatalf("run 2 request %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("run 2 request %d: status %d", i, resp.StatusCode)
		}
	}
	if err := p2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	if ps := p2.wait(t, 15*time.Second); !ps.Success() {
		t.Fatalf("run 2 after SIGTERM: %v; stderr:\n%s", ps, p2.stderr.String())
	}

	pub, code := run(t, "audit", "pubkey", "--config", cfg)
	if code != 0 {
		t.Fatalf("audit pubkey: exit %d: %s", code, pub)
	}
	pubFile := filepath.Join(dir, "audit.pub")
	writeFile(t, pubFile, pub)

	// The whole trail: the crash tail is reported, nothing is damaged.
	out, code := run(t, "audit", "verify", "--json", "--pubkey", pubFile, trail)
	var rep audit.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("audit verify --json: exit %d, not a report: %v\n%s", code, err, out)
	}
	if len(rep.Damages) != 0 || !rep.SignaturesChecked || len(rep.Chains) != 2 {
		t.Fatalf("want no damage, signatures checked and two chains:\n%s", out)
	}
	var gotA, gotB audit.ChainReport
	for _, cr := range rep.Chains {
		if cr.ID == a {
			gotA = cr
		} else {
			gotB = cr
		}
	}
	wantA := audit.ChainReport{ID: a, Events: ca.events, LastSeq: ca.lastSeq, CheckpointSeq: c, UnverifiedTail: ca.lastSeq - c}
	if tailLine > 0 {
		wantA.TailFile, wantA.TailLine = trail, tailLine
	}
	if gotA != wantA {
		t.Errorf("crashed chain:\n got %+v\nwant %+v\nreport:\n%s", gotA, wantA, out)
	}
	wantB := audit.ChainReport{Events: run2, LastSeq: run2, CheckpointSeq: run2, Prev: a + "@" + strconv.FormatUint(state.Seq, 10)}
	wantB.ID = gotB.ID
	if gotB.ID == "" || gotB != wantB {
		t.Errorf("restarted chain:\n got %+v\nwant %+v\nreport:\n%s", gotB, wantB, out)
	}
	wantCode := 0
	if tailLine > 0 {
		wantCode = 1 // the crash tail is unverified
	}
	if code != wantCode {
		t.Errorf("audit verify exit %d, want %d (unverified tail %d)\n%s", code, wantCode, wantA.UnverifiedTail, out)
	}

	// Run 2's lines alone verify: the link names a chain not given
	// (prev_missing), which is not damage.
	all, err := os.ReadFile(trail)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(all, crashedLines) {
		t.Fatal("run 2 rewrote run 1's lines")
	}
	second := filepath.Join(dir, "second.log")
	writeFile(t, second, string(all[len(crashedLines):]))
	out, code = run(t, "audit", "verify", "--json", "--pubkey", pubFile, second)
	rep = audit.Report{}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("audit verify of run 2 alone: exit %d, not a report: %v\n%s", code, err, out)
	}
	wantB.PrevMissing = true
	if code != 0 || len(rep.Damages) != 0 || len(rep.Chains) != 1 || rep.Chains[0] != wantB {
		t.Errorf("audit verify of run 2 alone: exit %d, want 0 and %+v\n%s", code, wantB, out)
	}
}

// veilProc is a veil command run as a child process: the test binary
// re-executed with childEnv (TestMain).
type veilProc struct {
	cmd    *exec.Cmd
	stderr *syncbuf.Buffer
	done   chan struct{} // closed once Wait returned
	listen string
	admin  string
}

func startVeil(t *testing.T, args ...string) *veilProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), childEnv+"=1", stdinGuardEnv+"=1")
	p := &veilProc{cmd: cmd, stderr: &syncbuf.Buffer{}, done: make(chan struct{})}
	cmd.Stdout = io.Discard
	cmd.Stderr = p.stderr
	// Held open until Wait: the child's stdin guard exits on EOF.
	if _, err := cmd.StdinPipe(); err != nil {
		t.Fatalf("stdin pipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start veil: %v", err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *veilProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits for the child to exit and returns how it ended.
func (p *veilProc) wait(t *testing.T, d time.Duration) *os.ProcessState {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState
	case <-time.After(d):
		t.Fatalf("veil did not exit within %v; stderr:\n%s", d, p.stderr.String())
		return nil
	}
}

// waitReady reads the listener addresses from the "veil listening" log
// line, then waits for /readyz to answer 200.
func (p *veilProc) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for p.listen == "" {
		sc := bufio.NewScanner(strings.NewReader(p.stderr.String()))
		for sc.Scan() {
			var l struct{ Msg, Listen, Admin string }
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "veil listening" {
				p.listen, p.admin = l.Listen, l.Admin
			}
		}
		if p.listen != "" {
			break
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("veil did not start; stderr:\n%s", p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for {
		resp, err := http.Get("http://" + p.admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("veil not ready (%v); stderr:\n%s", err, p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// trailChain is one chain as read directly from a trail file.
type trailChain struct {
	events      int
	lastSeq     uint64
	lastHash    string
	checkpoints []uint64       // in file order
	lineOf      map[uint64]int // seq -> 1-based line number
}

func (c *trailChain) lastCheckpoint() uint64 {
	if len(c.checkpoints) == 0 {
		return 0
	}
	return c.checkpoints[len(c.checkpoints)-1]
}

type trailSegment struct{ prev string } // "chain@seq", "" when unlinked

type trailFile struct {
	lines    []byte   // the file as read, a torn last line included
	torn     []byte   // an incomplete last line (no newline), if any
	chains   []string // in order of first appearance
	byID     map[string]*trailChain
	segments map[string]*trailSegment
}

// readTrail parses a trail file independently of the audit package and
// fails on anything a crash must not leave in complete lines: a gap, a
// broken link, a checkpoint that is not right after the event it names.
func readTrail(t *testing.T, path string) *trailFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tf := &trailFile{lines: b, byID: map[string]*trailChain{}, segments: map[string]*trailSegment{}}
	// A record cut mid-line by the kill: the sink never finished writing
	// it, so it is not part of what the verifier can account for; the
	// caller decides what it means.
	if i := bytes.LastIndexByte(b, '\n'); i+1 < len(b) {
		tf.torn, b = b[i+1:], b[:i+1]
	}
	get := func(id string) *trailChain {
		c := tf.byID[id]
		if c == nil {
			c = &trailChain{lineOf: map[uint64]int{}}
			tf.byID[id] = c
			tf.chains = append(tf.chains, id)
		}
		return c
	}
	for n, line := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		n++
		var l struct {
			ChainID    string  `json:"chain_id"`
			Seq        *uint64 `json:"seq"`
			PrevHash   *string `json:"prev_hash"`
			Hash       string  `json:"hash"`
			Checkpoint *struct {
				ChainID string `json:"chain_id"`
				Seq     uint64 `json:"seq"`
				Hash    string `json:"hash"`
			} `json:"checkpoint"`
			Segment *struct {
				ChainID string `json:"chain_id"`
				Prev    *struct {
					ChainID string `json:"chain_id"`
					Seq     uint64 `json:"seq"`
				} `json:"prev"`
			} `json:"segment"`
		}
		if err := json.Unmarshal(line, &l); err != nil {
			t.Fatalf("%s:%d: %v: %q", path, n, err, line)
		}
		switch {
		case l.Segment != nil:
			c := get(l.Segment.ChainID)
			if c.events > 0 || tf.segments[l.Segment.ChainID] != nil {
				t.Fatalf("%s:%d: segment record of chain %s after it began", path, n, l.Segment.ChainID)
			}
			s := &trailSegment{}
			if p := l.Segment.Prev; p != nil {
				s.prev = p.ChainID + "@" + strconv.FormatUint(p.Seq, 10)
			}
			tf.segments[l.Segment.ChainID] = s
		case l.Checkpoint != nil:
			c := get(l.Checkpoint.ChainID)
			if l.Checkpoint.Seq != c.lastSeq || l.Checkpoint.Hash != c.lastHash {
				t.Fatalf("%s:%d: checkpoint at seq %d follows seq %d of chain %s", path, n, l.Checkpoint.Seq, c.lastSeq, l.Checkpoint.ChainID)
			}
			c.checkpoints = append(c.checkpoints, l.Checkpoint.Seq)
		default:
			if l.ChainID == "" || l.Seq == nil || l.PrevHash == nil || l.Hash == "" {
				t.Fatalf("%s:%d: not a chained event: %q", path, n, line)
			}
			c := get(l.ChainID)
			if *l.Seq != c.lastSeq+1 || *l.PrevHash != c.lastHash {
				t.Fatalf("%s:%d: chain %s seq %d (prev_hash %q) follows seq %d (hash %q)", path, n, l.ChainID, *l.Seq, *l.PrevHash, c.lastSeq, c.lastHash)
			}
			c.events++
			c.lastSeq, c.lastHash = *l.Seq, l.Hash
			c.lineOf[*l.Seq] = n
		}
	}
	if len(tf.chains) == 0 {
		t.Fatalf("%s holds no chain", path)
	}
	return tf
}

type stateRec struct {
	ChainID string `json:"chain_id"`
	Seq     uint64 `json:"seq"`
	Hash    string `json:"hash"`
}

func readState(t *testing.T, path string) stateRec {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("state file: %v", err)
	}
	var s stateRec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("state file %s: %v: %q", path, err, b)
	}
	return s
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func (s stateRec) String() string { return fmt.Sprintf("%s@%d", s.ChainID, s.Seq) }
