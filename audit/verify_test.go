package audit

import (
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/veilgw/veil/internal/syncbuf"
)

var testSeed = bytes.Repeat([]byte{7}, ed25519.SeedSize)

// trail writes n chained events with a signer, closes the logger (which
// writes the final checkpoint) and returns the chain's segment record (its
// first line) and its other lines: n events, then the checkpoint. A file
// of the chain starts with seg: Verify requires it.
func trail(t *testing.T, n int) (seg string, lines []string, pub ed25519.PublicKey) {
	t.Helper()
	var out syncbuf.Buffer
	l, err := New(Config{Checkpoint: CheckpointConfig{EveryEvents: 1000, Every: -1}}, Options{Stdout: &out, Signer: ed25519.NewKeyFromSeed(testSeed)})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		ev := sampleEvent()
		ev.RequestID = "r" + string(rune('a'+i))
		if err := l.Log(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines = strings.SplitAfter(strings.TrimSuffix(out.String(), "\n"), "\n")
	if !strings.Contains(lines[0], `"segment":{"chain_id":"`+l.ChainID()+`"`) {
		t.Fatalf("the chain does not start with its segment record: %q", lines[0])
	}
	return lines[0], lines[1:], l.PublicKey()
}

func writeTrail(t *testing.T, lines []string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "audit.log")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVerifyIntactTrail(t *testing.T) {
	t.Parallel()
	seg, lines, pub := trail(t, 5)
	if len(lines) != 6 || !strings.Contains(lines[0], `"seq":1,"prev_hash":""`) || !strings.Contains(lines[5], `"checkpoint":{`) {
		t.Fatalf("trail: %q", lines)
	}
	rep, err := Verify(pub, writeTrail(t, append([]string{seg}, lines...)))
	if err != nil || !rep.OK() || len(rep.Chains) != 1 || rep.Chains[0].Events != 5 || rep.Chains[0].CheckpointSeq != 5 || !rep.SignaturesChecked {
		t.Fatalf("intact trail: %+v %v", rep, err)
	}
	// Split over two files (rotation), the second gzip-compressed.
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log.gz")
	_ = os.WriteFile(a, []byte(seg+strings.Join(lines[:2], "")), 0o600)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(strings.Join(lines[2:], "")))
	_ = zw.Close()
	_ = os.WriteFile(b, gz.Bytes(), 0o600)
	if rep, err := Verify(pub, a, b); err != nil || !rep.OK() || rep.Chains[0].Events != 5 {
		t.Fatalf("rotated trail: %+v %v", rep, err)
	}
}

func TestCheckpointsEveryNEvents(t *testing.T) {
	t.Parallel()
	var out syncbuf.Buffer
	l, _ := New(Config{Checkpoint: CheckpointConfig{EveryEvents: 2, Every: -1}}, Options{Stdout: &out, Signer: ed25519.NewKeyFromSeed(testSeed)})
	for i := 0; i < 5; i++ {
		_ = l.Log(sampleEvent())
	}
	waitFor(t, func() bool { return strings.Count(out.String(), `"checkpoint":{`) >= 2 })
	if n := strings.Count(out.String(), `"checkpoint":{`); n != 2 {
		t.Fatalf("%d checkpoints after 5 events with every_events 2", n)
	}
}

func TestVerifyFindsEveryDamage(t *testing.T) {
	t.Parallel()
	seg, lines, pub := trail(t, 5)
	events, cp := lines[:5], lines[5]
	edit := func(i int, old, new string) []string {
		c := append([]string(nil), lines...)
		c[i] = strings.Replace(c[i], old, new, 1)
		return c
	}
	cat := func(parts ...[]string) []string {
		var c []string
		for _, p := range parts {
			c = append(c, p...)
		}
		return c
	}
	cases := map[string]struct {
		lines []string
		kind  string
		line  int
	}{ // line: in the file, after the segment record (line 1)
		"edited value":     {edit(2, `"status":200`, `"status":403`), DamageEdited, 4},
		"edited subject":   {edit(1, `"id":"alice"`, `"id":"mallory"`), DamageEdited, 3},
		"deleted event":    {cat(events[:2], events[3:], []string{cp}), DamageDeleted, 4},
		"reordered":        {cat([]string{events[0], events[2], events[1]}, events[3:], []string{cp}), DamageDeleted, 3},
		"duplicated":       {cat(events[:2], events[1:], []string{cp}), DamageReordered, 4},
		"deleted head":     {cat(events[1:], []string{cp}), DamageMissingHead, 2},
		"garbage line":     {cat(events[:1], []string{"not json\n"}, events[1:], []string{cp}), DamageMalformed, 3},
		"re-hashed event":  {forge(t, lines, 2, false), DamageBrokenLink, 5},
		"rewritten chain":  {forge(t, lines, 2, true), DamageForged, 7},
		"forged signature": {edit(5, `"sig":"`, `"sig":"AAAA`), DamageForged, 7},
		"early checkpoint": {cat(events[:4], []string{cp}), DamageCheckpoint, 6},
	}
	for name, c := range cases {
		rep, err := Verify(pub, writeTrail(t, append([]string{seg}, c.lines...)))
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Damages) == 0 || rep.Damages[0].Kind != c.kind || rep.Damages[0].Line != c.line {
			t.Errorf("%s: %+v, want %s at line %d", name, rep.Damages, c.kind, c.line)
		}
	}
	// A truncated tail is not damage in what remains, but the events after
	// the last checkpoint are reported unverified and the trail is not OK.
	rep, _ := Verify(pub, writeTrail(t, append([]string{seg}, events[:3]...)))
	if len(rep.Damages) != 0 || rep.OK() || rep.Chains[0].UnverifiedTail != 3 {
		t.Errorf("truncated tail: %+v", rep)
	}
}

// forge edits event i and re-hashes it (what an attacker without the
// signing key can do); with all, it also re-hashes every later event and
// the checkpoint's hash, so only the signature gives it away.
func forge(t *testing.T, lines []string, i int, all bool) []string {
	t.Helper()
	c := append([]string(nil), lines...)
	hashOf := func(l string) string {
		l = strings.TrimSuffix(l, "\n")
		return l[strings.LastIndex(l, `,"hash":"`)+9 : len(l)-2]
	}
	rehash := func(j int, prev string) {
		line := strings.TrimSuffix(c[j], "\n")
		body := line[:strings.LastIndex(line, `,"hash":"`)] + "}"
		if j > 0 {
			body = strings.Replace(body, `"prev_hash":"`+prevHashOf(line)+`"`, `"prev_hash":"`+prev+`"`, 1)
		}
		var ch chain
		ch.prev = []byte(prev)
		c[j] = string(ch.seal([]byte(body)))
	}
	c[i] = strings.Replace(c[i], `"status":200`, `"status":500`, 1)
	rehash(i, hashOf(c[i-1]))
	if all {
		for j := i + 1; j < 5; j++ {
			rehash(j, hashOf(c[j-1]))
		}
		c[5] = strings.Replace(c[5], `"hash":"`+hashOf(lines[4])+`"`, `"hash":"`+hashOf(c[4])+`"`, 1)
	}
	return c
}

func prevHashOf(line string) string {
	i := strings.Index(line, `"prev_hash":"`) + len(`"prev_hash":"`)
	return line[i : i+strings.IndexByte(line[i:], '"')]
}

// run logs n events through a Logger of cfg and closes it (or, with
// crash, leaves it running: a killed process) once the file shows them.
func run(t *testing.T, cfg Config, n int, crash bool) *Logger {
	t.Helper()
	l, err := New(cfg, Options{Signer: ed25519.NewKeyFromSeed(testSeed)})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := l.Log(sampleEvent()); err != nil {
			t.Fatal(err)
		}
	}
	if crash {
		path := cfg.Sinks[0].Path
		waitFor(t, func() bool {
			b, _ := os.ReadFile(path)
			return strings.Count(string(b), `"chain_id":"`+l.ChainID()+`","seq"`) == n+n/cfg.Checkpoint.EveryEvents
		})
		return l
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return l
}

// TestRestartsLinkSegments: each start is a new chain whose signed segment
// record names the previous run's last checkpoint; a crash leaves the
// previous chain's unverified tail reported exactly where it starts, and
// cutting events a later segment vouches for is damage.
func TestRestartsLinkSegments(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	cfg := Config{Sinks: []SinkConfig{{Type: "file", Path: path, Fsync: "never"}}, Checkpoint: CheckpointConfig{EveryEvents: 2, Every: -1}}
	pub := ed25519.NewKeyFromSeed(testSeed).Public().(ed25519.PublicKey)
	a := run(t, cfg, 3, false)
	b := run(t, cfg, 5, true) // checkpoints at 2 and 4, then killed
	waitFor(t, func() bool {
		st, _ := (&stateFile{path: filepath.Join(dir, ".audit.log.state")}).load()
		return st != nil && st.chain == b.ChainID() && st.seq == 4
	})
	c := run(t, cfg, 1, false)
	rep, err := Verify(pub, path)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]ChainReport{}
	for _, cr := range rep.Chains {
		byID[cr.ID] = cr
	}
	ra, rb, rc := byID[a.ChainID()], byID[b.ChainID()], byID[c.ChainID()]
	if len(rep.Damages) != 0 || ra.UnverifiedTail != 0 || rb.Prev != a.ChainID()+"@3" || rc.Prev != b.ChainID()+"@4" || rb.PrevMissing {
		t.Fatalf("linked segments: %+v", rep)
	}
	data, _ := os.ReadFile(path)
	lines := strings.Split(string(data), "\n")
	if rb.UnverifiedTail != 1 || rb.TailFile != path || !strings.Contains(lines[rb.TailLine-1], `"chain_id":"`+b.ChainID()+`","seq":5`) {
		t.Fatalf("crash tail of %s: %+v", b.ChainID(), rb)
	}
	if rep.OK() {
		t.Fatal("a trail with an unverified tail reported OK")
	}
	// Cut chain B after seq 2: segment C vouches for seq 4.
	var cut []string
	for _, l := range lines {
		if strings.Contains(l, `"chain_id":"`+b.ChainID()+`","seq":`) && !strings.Contains(l, `"seq":1,`) && !strings.Contains(l, `"seq":2,`) && !strings.Contains(l, `"segment"`) {
			continue // B's events and checkpoints after seq 2 (C's segment names B in "prev")
		}
		cut = append(cut, l)
	}
	p2 := filepath.Join(dir, "cut.log")
	_ = os.WriteFile(p2, []byte(strings.Join(cut, "\n")), 0o600)
	rep, _ = Verify(pub, p2)
	if len(rep.Damages) != 1 || rep.Damages[0].Kind != DamageTruncated || rep.Damages[0].Chain != b.ChainID() || rep.Damages[0].Seq != 3 {
		t.Fatalf("cut segment: %+v", rep)
	}
}

// TestWitnessDetectsDeletedFiles: checkpoints and segments also go to a
// witness sink; a trail missing a chain or cut short is damage.
func TestWitnessDetectsDeletedFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path, wpath := filepath.Join(dir, "audit.log"), filepath.Join(dir, "witness.log")
	cfg := Config{Sinks: []SinkConfig{{Type: "file", Path: path, MaxSizeMB: 1}, {Type: "file", Path: wpath, Witness: true}},
		Checkpoint: CheckpointConfig{EveryEvents: 3, Every: -1}}
	pub := ed25519.NewKeyFromSeed(testSeed).Public().(ed25519.PublicKey)
	a := run(t, cfg, 4, false)
	first, _ := os.ReadFile(path)
	b := run(t, cfg, 7, false)
	w, _ := os.ReadFile(wpath)
	if strings.Contains(string(w), `"prev_hash"`) || strings.Count(string(w), `"segment":{`) != 2 || strings.Count(string(w), `"checkpoint":{`) != 5 {
		t.Fatalf("witness content:\n%s", w)
	}
	rep, err := VerifyWith(VerifyOptions{PublicKey: pub, Witness: []string{wpath}}, path)
	if err != nil || !rep.OK() {
		t.Fatalf("intact trail with witness: %+v %v", rep, err)
	}
	// The first run's events deleted (as if its file were removed).
	full, _ := os.ReadFile(path)
	rest := filepath.Join(dir, "rest.log")
	_ = os.WriteFile(rest, full[len(first):], 0o600)
	rep, _ = VerifyWith(VerifyOptions{PublicKey: pub, Witness: []string{wpath}}, rest)
	if len(rep.Damages) != 1 || rep.Damages[0].Kind != DamageMissing || rep.Damages[0].Chain != a.ChainID() {
		t.Fatalf("deleted file: %+v", rep.Damages)
	}
	if rep2, _ := Verify(pub, rest); len(rep2.Damages) != 0 || !rep2.Chains[0].PrevMissing {
		t.Fatalf("without the witness a missing predecessor is only noted: %+v", rep2)
	}
	// Cut the second run to 5 events and drop its later checkpoints:
	// without the witness that is a clean-looking trail.
	var cut []string
	for _, l := range strings.Split(strings.TrimSpace(string(full)), "\n") {
		if strings.Contains(l, b.ChainID()) && (strings.Contains(l, `"seq":6`) || strings.Contains(l, `"seq":7`)) {
			continue
		}
		cut = append(cut, l)
	}
	short := filepath.Join(dir, "short.log")
	_ = os.WriteFile(short, []byte(strings.Join(cut, "\n")+"\n"), 0o600)
	rep, _ = VerifyWith(VerifyOptions{PublicKey: pub, Witness: []string{wpath}}, short)
	if len(rep.Damages) != 1 || rep.Damages[0].Kind != DamageTruncated || rep.Damages[0].Chain != b.ChainID() {
		t.Fatalf("cut trail with witness: %+v", rep.Damages)
	}
}

// TestVerifyDetectsSplicedChains: the head of one chain joined to the
// tail of another is reported as a splice at the join.
func TestVerifyDetectsSplicedChains(t *testing.T) {
	t.Parallel()
	segA, a, pub := trail(t, 5)
	_, b, _ := trail(t, 5)
	joined := append(append([]string{segA}, a[:3]...), b[3:]...)
	rep, err := Verify(pub, writeTrail(t, joined))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Damages) == 0 || rep.Damages[0].Kind != DamageSpliced || rep.Damages[0].Line != 5 {
		t.Fatalf("spliced: %+v", rep.Damages)
	}
}

// TestVerifyRequiresTheSegmentRecord: every chain begins with its segment
// record (the Logger always writes it first); a chain whose events start
// at seq 1 without it has lost its beginning, with or without a key.
func TestVerifyRequiresTheSegmentRecord(t *testing.T) {
	t.Parallel()
	seg, lines, pub := trail(t, 3)
	id := lines[0][strings.Index(lines[0], `"chain_id":"`)+12:][:24]
	segB, _, _ := trail(t, 1)
	cases := map[string]struct {
		lines []string
		line  int // of the missing_head damage
	}{
		"no segment record":             {lines, 1},
		"another chain's segment":       {append([]string{segB}, lines...), 2},
		"segment record after the head": {append(append([]string(nil), lines[:1]...), append([]string{seg}, lines[1:]...)...), 1},
	}
	for name, c := range cases {
		for _, key := range []ed25519.PublicKey{pub, nil} {
			rep, err := Verify(key, writeTrail(t, c.lines))
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() || len(rep.Damages) != 1 {
				t.Errorf("%s (key %v): %+v, want one missing_head", name, key != nil, rep)
				continue
			}
			if d := rep.Damages[0]; d.Kind != DamageMissingHead || d.Chain != id || d.Seq != 1 || d.Line != c.line {
				t.Errorf("%s (key %v): %+v, want missing_head of chain %s seq 1 at line %d", name, key != nil, d, id, c.line)
			}
		}
	}
	// With its segment record the same lines verify.
	if rep, err := Verify(pub, writeTrail(t, append([]string{seg}, lines...))); err != nil || !rep.OK() {
		t.Fatalf("with the segment record: %+v %v", rep, err)
	}
}

// TestVerifyDetectsACutHiddenByADeletedSegmentRecord: run A ends at
// checkpoint 3, run B's segment record vouches for A@3. Cutting A's last
// event and checkpoint (A then ends cleanly at checkpoint 2) is reported
// as truncated; deleting B's segment record as well, which needs no key,
// must not hide it: B has lost its beginning.
func TestVerifyDetectsACutHiddenByADeletedSegmentRecord(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	cfg := Config{Sinks: []SinkConfig{{Type: "file", Path: path, Fsync: "never"}}, Checkpoint: CheckpointConfig{EveryEvents: 2, Every: -1}}
	pub := ed25519.NewKeyFromSeed(testSeed).Public().(ed25519.PublicKey)
	a := run(t, cfg, 3, false) // checkpoints at 2 and 3
	b := run(t, cfg, 2, false)
	if rep, err := Verify(pub, path); err != nil || !rep.OK() {
		t.Fatalf("intact: %+v %v", rep, err)
	}
	data, _ := os.ReadFile(path)
	all := strings.SplitAfter(strings.TrimSuffix(string(data), "\n"), "\n")
	isA3 := func(l string) bool { // A's event 3 and checkpoint 3
		return strings.Contains(l, `,"chain_id":"`+a.ChainID()+`","seq":3,`) || strings.Contains(l, `"checkpoint":{"chain_id":"`+a.ChainID()+`","seq":3,`)
	}
	isBSeg := func(l string) bool { return strings.Contains(l, `"segment":{"chain_id":"`+b.ChainID()+`"`) }
	keep := func(drop func(string) bool) (kept []string, b1 int) {
		for _, l := range all {
			if drop(l) {
				continue
			}
			kept = append(kept, l)
			if strings.Contains(l, `"chain_id":"`+b.ChainID()+`","seq":1,`) {
				b1 = len(kept)
			}
		}
		return kept, b1
	}
	cutA, _ := keep(isA3)
	noSegB, b1 := keep(isBSeg)
	cutBoth, b1Cut := keep(func(l string) bool { return isA3(l) || isBSeg(l) })
	if len(all)-len(cutA) != 2 || len(all)-len(noSegB) != 1 || len(all)-len(cutBoth) != 3 {
		t.Fatalf("cut %d, %d and %d lines of %d:\n%s", len(all)-len(cutA), len(all)-len(noSegB), len(all)-len(cutBoth), len(all), data)
	}
	want := func(name string, lines []string, kind, chain string, seq uint64, line int) {
		t.Helper()
		rep, err := Verify(pub, writeTrail(t, lines))
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK() || len(rep.Damages) != 1 {
			t.Fatalf("%s: %+v, want one %s", name, rep, kind)
		}
		if d := rep.Damages[0]; d.Kind != kind || d.Chain != chain || d.Seq != seq || (line > 0 && d.Line != line) {
			t.Fatalf("%s: %+v, want %s of chain %s seq %d at line %d", name, d, kind, chain, seq, line)
		}
	}
	want("A cut", cutA, DamageTruncated, a.ChainID(), 3, 0)
	want("B's segment record deleted", noSegB, DamageMissingHead, b.ChainID(), 1, b1)
	want("A cut and B's segment record deleted", cutBoth, DamageMissingHead, b.ChainID(), 1, b1Cut)
}
