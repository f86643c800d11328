package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// CPU per request. With the contender alone on its CPU, that CPU's busy
// time (user, system and the softirq time of its network stack) over the
// timed window, divided by the requests answered in it, is what one
// request costs the contender: steadier than requests/s on a shared
// machine, and it splits the cost into the contender's own work (user)
// and the kernel's (system + irq).

// cpuTimes are one CPU's counters from /proc/stat, in USER_HZ ticks.
type cpuTimes struct{ user, system, busy int64 }

// userHZ is the tick of /proc/stat (USER_HZ: 100 on Linux).
const userHZ = 100

// readCPU reads cpu<n>'s line of /proc/stat.
func readCPU(n int) (cpuTimes, error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return cpuTimes{}, err
	}
	defer f.Close()
	prefix := "cpu" + strconv.Itoa(n) + " "
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		var v [10]int64
		fields := strings.Fields(line)[1:]
		for i := 0; i < len(fields) && i < len(v); i++ {
			v[i], _ = strconv.ParseInt(fields[i], 10, 64)
		}
		// user nice system idle iowait irq softirq steal guest guest_nice
		t := cpuTimes{user: v[0] + v[1], system: v[2] + v[5] + v[6]}
		t.busy = t.user + t.system
		return t, nil
	}
	return cpuTimes{}, fmt.Errorf("/proc/stat has no cpu%d", n)
}

// cpuWindow samples cpu at from and at until (call start before from).
type cpuWindow struct {
	done       chan struct{}
	start, end cpuTimes
	ok         bool
}

func sampleCPU(cpu int, from, until time.Time) *cpuWindow {
	w := &cpuWindow{done: make(chan struct{})}
	if cpu < 0 {
		close(w.done)
		return w
	}
	go func() {
		defer close(w.done)
		time.Sleep(time.Until(from))
		a, err := readCPU(cpu)
		if err != nil {
			return
		}
		time.Sleep(time.Until(until))
		b, err := readCPU(cpu)
		if err != nil {
			return
		}
		w.start, w.end, w.ok = a, b, true
	}()
	return w
}

// perRequest fills res's CPU fields once the window has been sampled.
func (w *cpuWindow) perRequest(res *runResult) {
	<-w.done
	if !w.ok || res.Requests == 0 {
		return
	}
	us := func(ticks int64) float64 { return float64(ticks) * 1e6 / userHZ / float64(res.Requests) }
	res.CPUUserUS = us(w.end.user - w.start.user)
	res.CPUSysUS = us(w.end.system - w.start.system)
}
