package proxy

import (
	"errors"
	"testing"
)

func TestNormalisePath(t *testing.T) {
	t.Parallel()
	ok := map[string]string{
		"/":                        "/",
		"/crm/customers":           "/crm/customers",
		"/crm/customers/":          "/crm/customers/",
		"//crm///customers":        "/crm/customers",
		"/crm/./customers":         "/crm/customers",
		"/crm/x/../customers":      "/crm/customers",
		"/crm/%63ustomers":         "/crm/customers",
		"/crm/%2e%2e/hrm/":         "/hrm/",
		"/crm/%2E/a":               "/crm/a",
		"/../../etc/passwd":        "/etc/passwd",
		"/a/b/..":                  "/a/",
		"/a/b/.":                   "/a/b/",
		"/a/%7e%41":                "/a/~A",
		"/a/John%20Doe":            "/a/John%20Doe",
		"/a/%c3%a9":                "/a/%C3%A9",
		"/a/b:c@d!$&'()*+,=":       "/a/b:c@d!$&'()*+,=",
		"/..":                      "/",
		"/a/..":                    "/",
		"/a/...":                   "/a/...",
		"/a/.b":                    "/a/.b",
		"/crm/customers/c-0001/..": "/crm/customers/",
	}
	for in, want := range ok {
		got, err := normalisePath(nil, []byte(in))
		if err != nil || string(got) != want {
			t.Errorf("normalisePath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := []string{
		"", "crm", "/a%2fb", "/a%2Fb", "/a%5cb", "/a%5Cb", "/a\\b", "/a%252e%252e/b", "/a%25",
		"/a;jsessionid=1", "/a%3bb", "/a%00b", "/a\x00b", "/a\tb", "/a\x7fb", "/a%7f", "/a%1f",
		"/a%", "/a%2", "/a%zz", "/a b", "/a\"b", "/a<b", "/a\xc3\xa9", "/a|b", "/a{b}", "/a`b", "/a^b",
		"/a#frag",
	}
	for _, in := range bad {
		got, err := normalisePath(nil, []byte(in))
		if !errors.Is(err, errUnsafePath) {
			t.Errorf("normalisePath(%q) = %q, %v; want errUnsafePath", in, got, err)
		}
	}
}

func TestSplitSegments(t *testing.T) {
	t.Parallel()
	got := splitSegments(nil, "/crm/customers/42/")
	if len(got) != 3 || got[0] != "crm" || got[1] != "customers" || got[2] != "42" {
		t.Fatalf("got %q", got)
	}
	if got := splitSegments(nil, "/"); len(got) != 0 {
		t.Fatalf("root: got %q", got)
	}
}

func FuzzNormalisePath(f *testing.F) {
	for _, s := range []string{"/a/b", "/a/../b", "/%2e%2e/x", "//a//b/", "/a%20b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := normalisePath(nil, []byte(in))
		if err != nil {
			return
		}
		// Normalising is idempotent and the result has no dot segments,
		// no empty inner segments and no forbidden characters.
		again, err := normalisePath(nil, out)
		if err != nil || string(again) != string(out) {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", in, out, again, err)
		}
		for _, s := range splitSegments(nil, string(out)) {
			if s == "." || s == ".." {
				t.Fatalf("dot segment left in %q", out)
			}
		}
	})
}
