package audit

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// trail writes n chained events and returns their lines.
func trail(t *testing.T, n int) []string {
	t.Helper()
	var out bytes.Buffer
	l, err := New(Config{}, &out)
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
	return strings.SplitAfter(strings.TrimSuffix(out.String(), "\n"), "\n")
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
	lines := trail(t, 5)
	if !strings.Contains(lines[0], `"seq":1,"prev_hash":""`) || !strings.Contains(lines[1], `"seq":2`) {
		t.Fatalf("chain fields: %s", lines[0])
	}
	rep, err := Verify(writeTrail(t, lines))
	if err != nil || !rep.OK() || len(rep.Chains) != 1 || rep.Chains[0].Events != 5 {
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
	if rep, err := Verify(a, b); err != nil || !rep.OK() || rep.Chains[0].Events != 5 {
		t.Fatalf("rotated trail: %+v %v", rep, err)
	}
}

func TestVerifyFindsEveryDamage(t *testing.T) {
	t.Parallel()
	lines := trail(t, 5)
	edit := func(i int, old, new string) []string {
		c := append([]string(nil), lines...)
		c[i] = strings.Replace(c[i], old, new, 1)
		return c
	}
	cases := map[string]struct {
		lines []string
		kind  string
		line  int
	}{
		"edited value":    {edit(2, `"status":200`, `"status":403`), DamageEdited, 3},
		"edited subject":  {edit(1, `"id":"alice"`, `"id":"mallory"`), DamageEdited, 2},
		"deleted event":   {append(append([]string(nil), lines[:2]...), lines[3:]...), DamageDeleted, 3},
		"reordered":       {[]string{lines[0], lines[2], lines[1], lines[3], lines[4]}, DamageDeleted, 2},
		"duplicated":      {[]string{lines[0], lines[1], lines[1], lines[2]}, DamageReordered, 3},
		"deleted head":    {lines[1:], DamageMissingHead, 1},
		"garbage line":    {[]string{lines[0], "not json\n", lines[1]}, DamageMalformed, 2},
		"recomputed hash": {forgeLine(t, lines, 2), DamageBrokenLink, 4},
	}
	for name, c := range cases {
		rep, err := Verify(writeTrail(t, c.lines))
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK() || rep.Damages[0].Kind != c.kind || rep.Damages[0].Line != c.line {
			t.Errorf("%s: %+v, want %s at line %d", name, rep.Damages, c.kind, c.line)
		}
	}
}

// forgeLine edits event i and recomputes its own hash correctly (as an
// attacker without a signing key can): the next event's prev_hash no
// longer matches.
func forgeLine(t *testing.T, lines []string, i int) []string {
	t.Helper()
	c := append([]string(nil), lines...)
	line := strings.TrimSuffix(c[i], "\n")
	line = strings.Replace(line, `"status":200`, `"status":500`, 1)
	body := line[:strings.LastIndex(line, `,"hash":"`)] + "}"
	prev := ""
	if i > 0 {
		p := strings.TrimSuffix(c[i-1], "\n")
		prev = p[strings.LastIndex(p, `,"hash":"`)+9 : len(p)-2]
	}
	var ch chain
	ch.prev = []byte(prev)
	c[i] = string(ch.seal(nil, []byte(body+"\n")))
	if rep, _ := Verify(writeTrail(t, c[:i+1])); !rep.OK() {
		t.Fatalf("the forged line itself should verify: %+v", rep.Damages)
	}
	return c
}
