package proxy

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/valyala/fasthttp"
)

// TestErrorTable: every error kind has a status, a stable code and a
// message, and renders as valid JSON even with hostile text in it.
func TestErrorTable(t *testing.T) {
	t.Parallel()
	for c := errNone + 1; c < errCount; c++ {
		info := errTable[c]
		if info.status < 400 || info.status > 599 || info.code == "" || info.message == "" {
			t.Errorf("error %d: incomplete table entry %+v", c, info)
		}
		var resp fasthttp.Response
		body := setError(nil, &resp, c, 0, "", "req-1")
		var e apiError
		if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != info.code || e.Error.Message != info.message || e.Error.RequestID != "req-1" {
			t.Errorf("error %d: body %s (%v)", c, body, err)
		}
		if resp.StatusCode() != info.status || string(resp.Header.ContentType()) != "application/json" {
			t.Errorf("error %d: status %d content type %q", c, resp.StatusCode(), resp.Header.ContentType())
		}
	}
	var resp fasthttp.Response
	// A reason built from a header value may hold bytes that are not
	// UTF-8 (RFC 9110 obs-text): they become U+FFFD, so the body stays
	// JSON for strict parsers too (encoding/json would accept raw ones).
	body := setError(nil, &resp, errPolicyDenied, 451, "quote \" backslash \\ newline \n <tag> \u2028 é \xff\xfe end \xe2\x82", "id")
	var e apiError
	if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode() != 451 {
		t.Fatalf("hostile reason: %s %v", body, err)
	}
	if !utf8.Valid(body) {
		t.Errorf("hostile reason: body is not UTF-8: %q", body)
	}
	if want := "quote \" backslash \\ newline \n <tag> \u2028 é \ufffd\ufffd end \ufffd\ufffd"; e.Error.Message != want {
		t.Errorf("hostile reason: message %q, want %q", e.Error.Message, want)
	}
}
