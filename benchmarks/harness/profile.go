package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// saveProfile records a CPU profile of the contender serving /debug/pprof
// on addr (Veil's admin listener with admin_pprof, the floor's -pprof)
// over the timed part of a run: it waits out the warm-up, then profiles
// for profileSeconds(d) and writes the profile to path.
func saveProfile(ctx context.Context, addr string, warmup, d time.Duration, path string) error {
	select {
	case <-time.After(warmup):
	case <-ctx.Done():
		return ctx.Err()
	}
	secs := profileSeconds(d)
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// profileSeconds is how long a run of duration d is profiled: its whole
// seconds, at least one.
func profileSeconds(d time.Duration) int { return max(int(d/time.Second), 1) }
