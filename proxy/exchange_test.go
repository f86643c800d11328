package proxy

import (
	"io"
	"reflect"
	"strings"
	"testing"
	"unsafe"
)

// keptPaths are the exchange's fields releaseExchange carries over to the
// next request: buffers (emptied) and the upstream request and response
// (reset by forward before use). Every other field must come back zero,
// or one request's state (a subject, a decision, a body) could reach the
// next.
var keptPaths = map[string]bool{
	"fwdReq": true, "fwdResp": true,
	"reqID": true, "xff": true, "path": true, "rawQuery": true, "upPath": true, "scratch": true,
	"bodyRaw": true, "bodyDec": true, "upBody": true, "respDec": true, "outBody": true, "out": true,
	"input.Segments": true, "input.Query": true, "input.Headers": true,
	"reqRes.Rules": true, "reqRes.RecordIDs": true, "queryRes.Rules": true,
	"respRes.Rules": true, "respRes.RecordIDs": true,
	"prune.names":     true,
	"ev.SubjectRoles": true, "ev.Transforms": true, "ev.RecordIDs": true,
}

// fill sets every field reachable inside v (unexported ones too) to a
// non-zero value; pointers get a fresh pointee, slices one element.
func fill(t *testing.T, v reflect.Value, path string, depth int) {
	t.Helper()
	v = reflect.NewAt(v.Type(), unsafe.Pointer(v.UnsafeAddr())).Elem() // settable
	switch v.Kind() {
	case reflect.Struct:
		if depth > 3 {
			// Deep inside a foreign type: one non-zero field is enough.
			for i := range v.NumField() {
				if f := v.Field(i); f.Kind() != reflect.Struct && f.Kind() != reflect.Array {
					fill(t, f, path, depth+1)
					return
				}
			}
			return
		}
		for i := range v.NumField() {
			fill(t, v.Field(i), join(path, v.Type().Field(i).Name), depth+1)
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 4))
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
	case reflect.String:
		v.SetString("stale")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		v.SetUint(7)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(7)
	case reflect.Array:
		for i := range v.Len() {
			fill(t, v.Index(i), path, depth+1)
		}
	case reflect.Interface:
		for _, c := range []any{io.Reader(strings.NewReader("stale")), io.EOF, "stale", 7} {
			if reflect.TypeOf(c).AssignableTo(v.Type()) {
				v.Set(reflect.ValueOf(c))
				return
			}
		}
		t.Fatalf("%s: no stand-in value for interface %v", path, v.Type())
	case reflect.Func, reflect.Chan:
		v.Set(reflect.MakeFunc(reflect.TypeOf(func() {}), func([]reflect.Value) []reflect.Value { return nil }).Convert(v.Type()))
	default:
		t.Fatalf("%s: cannot fill kind %v", path, v.Kind())
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// checkReset reports every field of v (by path) that is neither zero nor a
// kept buffer emptied to length 0.
func checkReset(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	if keptPaths[path] {
		if v.Kind() == reflect.Slice && v.Len() != 0 {
			t.Errorf("%s: kept buffer not emptied (len %d)", path, v.Len())
		}
		return
	}
	if v.Kind() == reflect.Struct && v.Type().PkgPath() == reflect.TypeOf(exchange{}).PkgPath() || path == "input" || path == "reqRes" || path == "queryRes" || path == "respRes" || path == "ev" {
		for i := range v.NumField() {
			checkReset(t, v.Field(i), join(path, v.Type().Field(i).Name))
		}
		return
	}
	if !v.IsZero() {
		t.Errorf("%s survives releaseExchange: %v", path, reflect.NewAt(v.Type(), unsafe.Pointer(v.UnsafeAddr())).Elem())
	}
}

// TestReleaseExchangeClearsState: a pooled exchange starts its next request
// with nothing of the previous one but its emptied buffers.
func TestReleaseExchangeClearsState(t *testing.T) {
	x := new(exchange)
	fill(t, reflect.ValueOf(x).Elem(), "", 0)
	req, resp := x.fwdReq, x.fwdResp
	g := &Gateway{}
	g.releaseExchange(x)
	checkReset(t, reflect.ValueOf(x).Elem(), "")
	if x.fwdReq != req || x.fwdResp != resp {
		t.Error("the upstream request and response are not kept with the exchange")
	}
}
