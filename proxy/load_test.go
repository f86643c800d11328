package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/veilgw/veil/audit"
	"github.com/veilgw/veil/vault"
)

// TestLoadEveryRequestIsAuditedOnce: 50k requests over 64 keep-alive
// connections on loopback (5k under -race), allowed, denied and masked
// alike, with the hash chain, signed checkpoints and a file sink. After a
// graceful shutdown the file holds exactly one event per request (no
// duplicate request id), and `veil audit verify` finds the chain intact
// and fully checkpointed.
func TestLoadEveryRequestIsAuditedOnce(t *testing.T) {
	total := 50000
	if raceEnabled || testing.Short() {
		total = 5000
	}
	const conns = 64
	up := startUpstream(t, nil)
	keys, err := vault.NewMemory("pii", "audit")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "audit.log")
	tg := startGateway(t, gatewayOpts{policy: testPolicy, routes: catchAll(up), keys: keys, mutate: func(c *Config) {
		c.Audit = audit.Config{Sinks: []audit.SinkConfig{{Type: "file", Path: path, MaxSizeMB: 5, Fsync: "interval"}}}
	}})
	paths := []string{"/api/a", "/deny/b", "/masked/c", "/nothing"}
	client := &fasthttp.HostClient{Addr: tg.addr, MaxConns: conns, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	var next, failed atomic.Int64
	statuses := make([]map[int]int, conns)
	var wg sync.WaitGroup
	for c := 0; c < conns; c++ {
		statuses[c] = map[int]int{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for {
				i := next.Add(1)
				if i > int64(total) {
					return
				}
				req.SetRequestURI("http://" + tg.addr + paths[i%int64(len(paths))] + fmt.Sprintf("?n=%d", i))
				if err := client.Do(req, resp); err != nil {
					failed.Add(1)
					continue
				}
				statuses[c][resp.StatusCode()]++
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d requests failed at the client", n)
	}
	want := map[int]int{}
	for _, s := range statuses {
		for code, n := range s {
			want[code] += n
		}
	}
	if want[200] == 0 || want[451] == 0 || want[403] == 0 {
		t.Fatalf("statuses %v: the mix did not run", want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := tg.g.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "audit*.log*"))
	rotatedFirst(files, path)
	ids := make(map[string]bool, total)
	got := map[int]int{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if !strings.Contains(l, `"prev_hash":`) {
				continue
			}
			var ev struct {
				RequestID string `json:"request_id"`
				Status    int    `json:"status"`
			}
			if err := json.Unmarshal([]byte(l), &ev); err != nil {
				t.Fatal(err)
			}
			if ids[ev.RequestID] {
				t.Fatalf("request %s audited twice", ev.RequestID)
			}
			ids[ev.RequestID] = true
			got[ev.Status]++
		}
	}
	if len(ids) != total {
		t.Fatalf("%d events for %d requests", len(ids), total)
	}
	for code, n := range want {
		if got[code] != n {
			t.Errorf("status %d: %d responses, %d events", code, n, got[code])
		}
	}
	pub, err := AuditPublicKey(keys)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(pub, files...)
	if err != nil || !rep.OK() || len(rep.Chains) != 1 || rep.Chains[0].Events != total {
		t.Fatalf("verify over %d file(s): %+v %v", len(files), rep, err)
	}
}

// rotatedFirst orders lumberjack's files oldest first: its rotated
// backups (timestamped names sort in time order), then the current file.
func rotatedFirst(files []string, current string) {
	for i, f := range files {
		if f == current {
			copy(files[i:], files[i+1:])
			files[len(files)-1] = current
			return
		}
	}
}
