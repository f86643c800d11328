package transforms

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// shapeRules select members by names of every kind the shapes handle
// (short, up to 16 bytes with the quotes, longer), in lists and nested.
func shapeRules() []Rule {
	return []Rule{
		r("$.list[*].ssn", "mask", "keep_last", 2),
		r("$.list[*].email", "mask", "format", "email"),
		r("$.list[*].fourteen_bytes", "redact"),
		r("$.list[*].a_name_longer_than_16", "mask"),
		r("$..secret", "redact"),
		r("$.list[*].addr.city", "mask"),
		r("$.list[*].é", "redact"),
	}
}

// shapeDoc generates a list of records that mostly share their names and
// order, with members missing, added, reordered, escaped or spaced out.
func shapeDoc(rnd *rand.Rand) []byte {
	names := []string{"id", "ssn", "email", "name", "fourteen_bytes", "fifteen__bytes", "a_name_longer_than_16",
		"addr", "secret", "x", "é", "emai", "emails", "tags", "fourteen_bytez", "fourteen", "city", "zip"}
	variants := map[string][]string{
		"email":  {`\u0065mail`, `emai\u006c`},
		"ssn":    {`s\u0073n`},
		"secret": {`secre\t`, `\"secret`},
	}
	var b bytes.Buffer
	b.WriteString(`{"list":[`)
	n := 1 + rnd.IntN(12)
	for k := range n {
		if k > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('{')
		first := true
		for j, name := range names {
			switch p := rnd.IntN(100); {
			case p < 10 && j > 0: // missing
				continue
			case p < 14: // escaped or changed
				if v, ok := variants[name]; ok {
					name = v[rnd.IntN(len(v))]
				}
			case p < 17: // swapped with the next one
				name = names[(j+1)%len(names)]
			}
			if !first {
				b.WriteByte(',')
			}
			first = false
			if rnd.IntN(20) == 0 {
				b.WriteString(" \n")
			}
			fmt.Fprintf(&b, `"%s"`, name)
			if rnd.IntN(20) == 0 {
				b.WriteString(" ")
			}
			b.WriteByte(':')
			switch rnd.IntN(6) {
			case 0:
				fmt.Fprintf(&b, "%d", rnd.IntN(100000))
			case 1:
				b.WriteString(`{"city":"Lyon","zip":"69001","secret":1}`)
			case 2:
				b.WriteString(`["a",{"secret":true},null]`)
			default:
				fmt.Fprintf(&b, `"v%d@x.org"`, rnd.IntN(1000))
			}
		}
		if rnd.IntN(10) == 0 {
			b.WriteString(`,"extra":1`)
		}
		b.WriteByte('}')
	}
	b.WriteString(`],"total":1}`)
	return b.Bytes()
}

// TestShapeMatchesNoShape rewrites generated documents, valid and
// corrupted (cut short at every position, one byte changed), with a
// Program whose shapes were set by other documents, with a fresh one and
// with one that never uses shapes: outputs, errors and record ids must be
// identical.
func TestShapeMatchesNoShape(t *testing.T) {
	t.Parallel()
	opts := Options{RecordIDs: "$.list[*].id", MaxDepth: 16}
	shared := compileTest(t, shapeRules(), opts)
	rnd := rand.New(rand.NewPCG(3, 4))
	check := func(doc []byte) {
		t.Helper()
		ref := compileTest(t, shapeRules(), opts)
		ref.m.disableShapes()
		fresh := compileTest(t, shapeRules(), opts)
		var wantRes Result
		want, wantErr := ref.Rewrite(nil, doc, &wantRes)
		for _, p := range []*Program{shared, fresh, shared} {
			var res Result
			got, err := p.Rewrite(nil, doc, &res)
			if fmt.Sprint(err) != fmt.Sprint(wantErr) || !bytes.Equal(got, want) {
				t.Fatalf("%s:\n got %s, %v\nwant %s, %v", doc, got, err, want, wantErr)
			}
			if err == nil && fmt.Sprint(res) != fmt.Sprint(wantRes) {
				t.Fatalf("%s:\n result %+v\nwant %+v", doc, res, wantRes)
			}
		}
	}
	for range 300 {
		doc := shapeDoc(rnd)
		check(doc)
		bad := bytes.Clone(doc)
		const repl = "\"\\:,{}[] \x00\xffa"
		bad[rnd.IntN(len(bad))] = repl[rnd.IntN(len(repl))]
		check(bad)
	}
	// Cut short at every position, after the shapes are set.
	doc := shapeDoc(rnd)
	for n := range len(doc) {
		check(doc[:n])
	}
}

// TestShapeEnt checks the comparison of a name with a shape entry for
// names of every length up to 16 bytes at every offset, against names
// differing in one byte.
func TestShapeEnt(t *testing.T) {
	t.Parallel()
	for n := 2; n <= 16; n++ {
		lit := []byte(`"` + "abcdefghijklmnopq"[:n-2] + `"`)
		e := newShapeEnt(lit, nil)
		for pre := range 3 {
			buf := append(bytes.Repeat([]byte{' '}, pre), lit...)
			buf = append(buf, `:"zzzzzzzzzzzzzzzz"`...)
			if !e.match(buf, pre) {
				t.Fatalf("%q: no match at %d", lit, pre)
			}
			for k := pre; k < pre+16; k++ {
				for _, c := range []byte{0, '"', 'a', 'z', 0xff} {
					mod := bytes.Clone(buf)
					mod[k] = c
					want := bytes.HasPrefix(mod[pre:], lit)
					if got := e.match(mod, pre); got != want {
						t.Fatalf("%q at %d: match %v, want %v", mod, pre, got, want)
					}
				}
			}
		}
	}
}

// TestMaskInPlace compares masks applied in place (maskInPlace, the plain
// configuration) with the general path (forced by an ignore set matching
// no character) on strings of every length up to 80, with '@' anywhere,
// as members (after removed members too) and elements.
func TestMaskInPlace(t *testing.T) {
	t.Parallel()
	rnd := rand.New(rand.NewPCG(5, 6))
	for _, kv := range [][]any{{}, {"keep_last", 4}, {"keep_first", 1, "keep_last", 2}, {"format", "email"},
		{"format", "email", "keep_first", 2}, {"char", "#", "keep_first", 3}} {
		plain := compileTest(t, []Rule{r("$.k", "mask", kv...), r("$.l[*]", "mask", kv...), r("$.x", "redact")}, Options{})
		general := compileTest(t, []Rule{r("$.k", "mask", append(kv, "ignore", "~")...),
			r("$.l[*]", "mask", append(kv, "ignore", "~")...), r("$.x", "redact")}, Options{})
		for n := range 81 {
			b := make([]byte, n)
			for j := range b {
				b[j] = "abcdefghij0123456789@.-"[rnd.IntN(23)]
			}
			v := string(b)
			for _, doc := range []string{`{"k":"` + v + `"}`, `{"x":1,"k":"` + v + `","y":2}`, `{"a":[1],"x":{},"k":"` + v + `"}`,
				`{"l":["` + v + `",1,"` + v + `x"],"k":"` + v + `"}`, `["` + v + `"]`} {
				want, err1 := general.Rewrite(nil, []byte(doc), nil)
				got, err2 := plain.Rewrite(nil, []byte(doc), nil)
				if err1 != nil || err2 != nil || !bytes.Equal(got, want) {
					t.Fatalf("%v %s:\n got %s (%v)\nwant %s (%v)", kv, doc, got, err2, want, err1)
				}
			}
		}
	}
}

// FuzzShape compares, on any input, a Program whose shapes earlier inputs
// set with one that never uses shapes: same output, same error.
func FuzzShape(f *testing.F) {
	for _, s := range []string{
		`{"list":[{"ssn":"1","email":"a@b.c","city":"x"},{"ssn":"2","email":"d@e.f","city":"y"}]}`,
		`{"list":[{"addr":{"city":"Lyon","secret":1},"city":"z"},{"city":{"secret":2},"addr":{"city":"P"}}]}`,
		`{"list":[{"fourteen_bytes":1,"a_name_longer_than_16":2},{"fourteen_bytez":3,"e\u006dail":"q@r.s"}]}`,
		`{"list":[{"é":1,"secret":[{"secret":2}]},{"é" : 3 , "x":{}}]}`,
	} {
		f.Add([]byte(s))
	}
	opts := Options{RecordIDs: "$.list[*].id", MaxDepth: 16}
	shared := compileTest(f, shapeRules(), opts)
	ref := compileTest(f, shapeRules(), opts)
	ref.m.disableShapes()
	f.Fuzz(func(t *testing.T, in []byte) {
		want, wantErr := ref.Rewrite(nil, in, nil)
		got, err := shared.Rewrite(nil, in, nil)
		if fmt.Sprint(err) != fmt.Sprint(wantErr) || !bytes.Equal(got, want) {
			t.Fatalf("%q:\n got %s, %v\nwant %s, %v", in, got, err, want, wantErr)
		}
	})
}
