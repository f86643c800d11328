package transforms

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unsafe"

	"github.com/veilgw/veil/internal/jsonnum"
)

// whereCond is a compiled Where. It is evaluated on the original raw bytes
// of a selected node. Semantics:
//   - the field is a member name of the node, or an @-relative singular
//     path (@.a.b, @['a'][0], @[-1]);
//   - when the field occurs several times (duplicate keys) the condition
//     holds when ANY occurrence satisfies it (rules are protective, so this
//     fails closed);
//   - numbers compare numerically, strings by code points; == and != on
//     other values use JSON equality (objects ignore member order); <, <=,
//     >, >= between values that are not both numbers or both strings are
//     false;
//   - an absent field satisfies only !=, not_in and not_exists.
type whereCond struct {
	steps []whereStep
	op    string
	val   jsonVal
	vals  []jsonVal // in, not_in
}

type whereStep struct {
	name    string
	index   int64
	isIndex bool
}

// jsonVal is a comparand.
type jsonVal struct {
	kind byte // 's' string, 'n' number, 't' true, 'f' false, 'z' null, 'c' container
	s    string
	n    []byte // the number's JSON literal, compared by exact value (jsonnum)
	c    any    // container, numbers kept as json.Number (decodeExact)
}

var whereOps = map[string]bool{"==": true, "!=": true, "<": true, "<=": true, ">": true, ">=": true,
	"in": true, "not_in": true, "exists": true, "not_exists": true}

func compileWhere(w *Where) (*whereCond, error) {
	if w.Field == "" {
		return nil, errors.New("where.field is required (a member name or @-relative path)")
	}
	if !whereOps[w.Op] {
		return nil, fmt.Errorf("where.op must be one of ==, !=, <, <=, >, >=, in, not_in, exists, not_exists (got %q)", w.Op)
	}
	c := &whereCond{op: w.Op}
	if w.Field[0] == '@' {
		steps, err := parseRelPath(w.Field)
		if err != nil {
			return nil, err
		}
		c.steps = steps
	} else {
		c.steps = []whereStep{{name: w.Field}}
	}
	switch w.Op {
	case "exists", "not_exists":
		if w.Value != nil {
			return nil, fmt.Errorf("where.value must be absent for %s", w.Op)
		}
	case "in", "not_in":
		arr, ok := w.Value.([]any)
		if !ok {
			return nil, fmt.Errorf("where.value must be an array for %s", w.Op)
		}
		for _, v := range arr {
			jv, err := toJSONVal(v)
			if err != nil {
				return nil, err
			}
			c.vals = append(c.vals, jv)
		}
	default:
		jv, err := toJSONVal(w.Value)
		if err != nil {
			return nil, err
		}
		if (w.Op != "==" && w.Op != "!=") && jv.kind != 's' && jv.kind != 'n' {
			return nil, fmt.Errorf("where.value must be a number or a string for %s", w.Op)
		}
		c.val = jv
	}
	return c, nil
}

func toJSONVal(v any) (jsonVal, error) {
	switch t := v.(type) {
	case nil:
		return jsonVal{kind: 'z'}, nil
	case bool:
		if t {
			return jsonVal{kind: 't'}, nil
		}
		return jsonVal{kind: 'f'}, nil
	case string:
		return jsonVal{kind: 's', s: t}, nil
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return jsonVal{}, errors.New("where.value holds an invalid number")
		}
		return jsonVal{kind: 'n', n: strconv.AppendFloat(nil, t, 'g', -1, 64)}, nil
	case int:
		return jsonVal{kind: 'n', n: strconv.AppendInt(nil, int64(t), 10)}, nil
	case int64:
		return jsonVal{kind: 'n', n: strconv.AppendInt(nil, t, 10)}, nil
	case json.Number:
		// The policy's exact decimal text (ast.JSON hands numbers over as
		// json.Number): a float64 would merge ids above 2^53.
		if b := []byte(t); len(b) == 0 || scanNumber(b, 0) != len(b) {
			return jsonVal{}, errors.New("where.value holds an invalid number")
		}
		return jsonVal{kind: 'n', n: []byte(t)}, nil
	case []any, map[string]any:
		b, err := json.Marshal(t)
		if err != nil {
			return jsonVal{}, errors.New("where.value must be a JSON value")
		}
		c, err := decodeExact(b)
		if err != nil {
			return jsonVal{}, errors.New("where.value must be a JSON value")
		}
		return jsonVal{kind: 'c', c: c}, nil
	}
	return jsonVal{}, errors.New("where.value must be a JSON value")
}

// parseRelPath parses "@", ".name", "['name']", "[\"name\"]" and "[n]".
func parseRelPath(s string) ([]whereStep, error) {
	bad := fmt.Errorf("where.field %q must be a member name or a singular path like @.a.b, @['a'] or @[0]", s)
	var steps []whereStep
	i := 1
	for i < len(s) {
		switch s[i] {
		case '.':
			j := i + 1
			for j < len(s) && s[j] != '.' && s[j] != '[' {
				j++
			}
			if j == i+1 {
				return nil, bad
			}
			steps = append(steps, whereStep{name: s[i+1 : j]})
			i = j
		case '[':
			j := i + 1
			if j < len(s) && (s[j] == '\'' || s[j] == '"') {
				q := s[j]
				k := j + 1
				for k < len(s) && s[k] != q {
					if s[k] == '\\' {
						return nil, bad // keep it simple: no escapes
					}
					k++
				}
				if k+1 >= len(s) || s[k+1] != ']' {
					return nil, bad
				}
				steps = append(steps, whereStep{name: s[j+1 : k]})
				i = k + 2
				continue
			}
			k := j
			for k < len(s) && s[k] != ']' {
				k++
			}
			if k >= len(s) {
				return nil, bad
			}
			n, err := strconv.ParseInt(s[j:k], 10, 64)
			if err != nil {
				return nil, bad
			}
			steps = append(steps, whereStep{index: n, isIndex: true})
			i = k + 1
		default:
			return nil, bad
		}
	}
	if len(steps) == 0 {
		return nil, bad
	}
	return steps, nil
}

// eval reports whether the condition holds for the node raw (valid JSON).
func (c *whereCond) eval(rw *rewriter, raw []byte) bool {
	found, sat := c.walk(rw, raw, 0)
	switch c.op {
	case "exists":
		return found
	case "not_exists":
		return !found
	case "!=", "not_in":
		return !found || sat
	}
	return sat
}

// walk finds the occurrences of the field below raw and reports whether
// any exists and whether any satisfies the comparison.
func (c *whereCond) walk(rw *rewriter, raw []byte, step int) (found, sat bool) {
	if step == len(c.steps) {
		return true, c.test(rw, raw)
	}
	st := c.steps[step]
	if st.isIndex {
		if raw[0] != '[' {
			return false, false
		}
		idx := st.index
		if idx < 0 {
			idx += countElements(raw)
			if idx < 0 {
				return false, false
			}
		}
		var k int64
		for i := skipWS(raw, 1); raw[i] != ']'; k++ {
			end := skipValue(raw, i, 0, math.MaxInt)
			if k == idx {
				return c.walk(rw, raw[i:end], step+1)
			}
			i = skipWS(raw, end)
			if raw[i] == ',' {
				i = skipWS(raw, i+1)
			}
		}
		return false, false
	}
	if raw[0] != '{' {
		return false, false
	}
	for i := skipWS(raw, 1); raw[i] != '}'; {
		ke, esc := scanString(raw, i)
		key := raw[i+1 : ke-1]
		var match bool
		if esc {
			rw.wkey = appendUnescaped(rw.wkey[:0], raw[i:ke])
			match = string(rw.wkey) == st.name
		} else {
			match = string(key) == st.name
		}
		vs := skipWS(raw, skipWS(raw, ke)+1)
		end := skipValue(raw, vs, 0, math.MaxInt)
		if match {
			f, s := c.walk(rw, raw[vs:end], step+1)
			found = found || f
			sat = sat || s
			if sat {
				return
			}
		}
		i = skipWS(raw, end)
		if raw[i] == ',' {
			i = skipWS(raw, i+1)
		}
	}
	return
}

func countElements(raw []byte) int64 {
	var n int64
	for i := skipWS(raw, 1); raw[i] != ']'; n++ {
		i = skipWS(raw, skipValue(raw, i, 0, math.MaxInt))
		if raw[i] == ',' {
			i = skipWS(raw, i+1)
		}
	}
	return n
}

// test compares one occurrence with the condition's value.
func (c *whereCond) test(rw *rewriter, raw []byte) bool {
	switch c.op {
	case "in", "not_in":
		for i := range c.vals {
			if rw.cmp(raw, &c.vals[i]) == 0 {
				return c.op == "in"
			}
		}
		return c.op == "not_in"
	}
	r := rw.cmp(raw, &c.val)
	switch c.op {
	case "==":
		return r == 0
	case "!=":
		return r != 0
	case "<":
		return r == -1
	case "<=":
		return r == -1 || r == 0
	case ">":
		return r == 1
	case ">=":
		return r == 1 || r == 0
	}
	return false
}

// cmp compares raw with v: -1, 0, 1 when ordered (both numbers or both
// strings) or equal, 2 when different and unordered.
func (rw *rewriter) cmp(raw []byte, v *jsonVal) int {
	switch raw[0] {
	case '"':
		if v.kind != 's' {
			return 2
		}
		rw.wtmp = appendUnescaped(rw.wtmp[:0], raw)
		return bytes.Compare(rw.wtmp, unsafe.Slice(unsafe.StringData(v.s), len(v.s)))
	case 't', 'f', 'n':
		k := raw[0]
		if k == 'n' {
			k = 'z'
		}
		if k == v.kind {
			return 0
		}
		return 2
	case '{', '[':
		if v.kind != 'c' {
			return 2
		}
		x, err := decodeExact(raw)
		if err != nil || !equalExact(x, v.c) {
			return 2
		}
		return 0
	default:
		if v.kind != 'n' {
			return 2
		}
		return jsonnum.Compare(raw, v.n)
	}
}

// decodeExact decodes one JSON value, numbers kept as json.Number (their
// exact text) for equalExact.
func decodeExact(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// equalExact is deep equality of decoded JSON values with numbers compared
// by exact value (1.0 equals 1; 2^53+1 does not equal 2^53).
func equalExact(a, b any) bool {
	switch x := a.(type) {
	case json.Number:
		y, ok := b.(json.Number)
		return ok && jsonnum.Equal([]byte(x), []byte(y))
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalExact(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equalExact(v, w) {
				return false
			}
		}
		return true
	}
	return a == b // string, bool, nil
}
