package audit

import (
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var testSeed = bytes.Repeat([]byte{7}, ed25519.SeedSize)

// trail writes n chained events with a signer, closes the logger (which
// writes the final checkpoint) and returns the lines: n events, then the
// checkpoint.
func trail(t *testing.T, n int) ([]string, ed25519.PublicKey) {
	t.Helper()
	var out bytes.Buffer
	l, err := New(Config{Checkpoint: CheckpointConfig{EveryEvents: 1000, Every: -1}}, &out)
	if err != nil {
		t.Fatal(err)
	}
	l.SetSigner(ed25519.NewKeyFromSeed(testSeed))
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
	return strings.SplitAfter(strings.TrimSuffix(out.String(), "\n"), "\n"), l.PublicKey()
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
	lines, pub := trail(t, 5)
	if len(lines) != 6 || !strings.Contains(lines[0], `"seq":1,"prev_hash":""`) || !strings.Contains(lines[5], `"checkpoint":{`) {
		t.Fatalf("trail: %q", lines)
	}
	rep, err := Verify(pub, writeTrail(t, lines))
	if err != nil || !rep.OK() || len(rep.Chains) != 1 || rep.Chains[0].Events != 5 || rep.Chains[0].CheckpointSeq != 5 || !rep.SignaturesChecked {
		t.Fatalf("intact trail: %+v %v", rep, err)
	}
	// Split over two files (rotation), the second gzip-compressed.
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log.gz")
	_ = os.WriteFile(a, []byte(strings.Join(lines[:2], "")), 0o600)
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
	var out bytes.Buffer
	l, _ := New(Config{Checkpoint: CheckpointConfig{EveryEvents: 2, Every: -1}}, &out)
	l.SetSigner(ed25519.NewKeyFromSeed(testSeed))
	for i := 0; i < 5; i++ {
		_ = l.Log(sampleEvent())
	}
	if n := strings.Count(out.String(), `"checkpoint":{`); n != 2 {
		t.Fatalf("%d checkpoints after 5 events with every_events 2", n)
	}
}

func TestVerifyFindsEveryDamage(t *testing.T) {
	t.Parallel()
	lines, pub := trail(t, 5)
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
	}{
		"edited value":     {edit(2, `"status":200`, `"status":403`), DamageEdited, 3},
		"edited subject":   {edit(1, `"id":"alice"`, `"id":"mallory"`), DamageEdited, 2},
		"deleted event":    {cat(events[:2], events[3:], []string{cp}), DamageDeleted, 3},
		"reordered":        {cat([]string{events[0], events[2], events[1]}, events[3:], []string{cp}), DamageDeleted, 2},
		"duplicated":       {cat(events[:2], events[1:], []string{cp}), DamageReordered, 3},
		"deleted head":     {cat(events[1:], []string{cp}), DamageMissingHead, 1},
		"garbage line":     {cat(events[:1], []string{"not json\n"}, events[1:], []string{cp}), DamageMalformed, 2},
		"re-hashed event":  {forge(t, lines, 2, false), DamageBrokenLink, 4},
		"rewritten chain":  {forge(t, lines, 2, true), DamageForged, 6},
		"forged signature": {edit(5, `"sig":"`, `"sig":"AAAA`), DamageForged, 6},
		"early checkpoint": {cat(events[:4], []string{cp}), DamageCheckpoint, 5},
	}
	for name, c := range cases {
		rep, err := Verify(pub, writeTrail(t, c.lines))
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Damages) == 0 || rep.Damages[0].Kind != c.kind || rep.Damages[0].Line != c.line {
			t.Errorf("%s: %+v, want %s at line %d", name, rep.Damages, c.kind, c.line)
		}
	}
	// A truncated tail is not damage in what remains, but the events after
	// the last checkpoint are reported unverified and the trail is not OK.
	rep, _ := Verify(pub, writeTrail(t, events[:3]))
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
		c[j] = string(ch.seal(nil, []byte(body+"\n")))
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
