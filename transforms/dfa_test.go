package transforms

import (
	"strconv"
	"strings"
	"testing"

	"github.com/veilgw/veil/transforms/jsonpath"
)

// TestNameSlot checks member-name lookup for states built from real
// queries: the length filter, the perfect hash table and the fallbacks
// (a map for many names, one-by-one comparison for few) when no table
// separates the names.
func TestNameSlot(t *testing.T) {
	t.Parallel()
	many := make([]string, 40)
	for i := range many {
		many[i] = "field_" + strconv.Itoa(i)
	}
	lots := make([]string, 300) // too many for a collision-free table
	for i := range lots {
		lots[i] = "n" + strconv.Itoa(i*7919)
	}
	long := strings.Repeat("L", 70)
	tests := []struct {
		name      string
		names     []string
		wantTable bool
		misses    []string
	}{
		{"lots", lots, false, []string{"n1", "n7918", "n" + strconv.Itoa(300*7919), ""}},
		{"none", nil, false, []string{"", "a"}},
		{"one", []string{"ssn"}, false, []string{"", "ss", "ssnx", "SSN", "abc"}},
		{"record", []string{"ssn", "email", "notes", "id"}, true,
			[]string{"", "name", "phone", "emaiL", "note", "notes_", "ix", "address", "date_of_birth"}},
		{"empty name", []string{"", "x"}, true, []string{"y", "xx"}},
		{"long names", []string{long, long + "x", "a"}, true, []string{long[1:], long + "y", strings.Repeat("L", 80)}},
		{"many", many, true, []string{"field_40", "field_", "field_00", "fielD_1"}},
		// Names of up to 8 bytes are compared through their keys; longer
		// ones also byte by byte (same length, first and last four bytes).
		{"eight bytes", []string{"abcdefgh", "x"}, true, []string{"abcdefgX", "Xbcdefgh", "abcXefgh", "abcdEfgh"}},
		{"nine bytes", []string{"abcdXefgh", "zz"}, true, []string{"abcdYefgh", "abcdXefgX"}},
		// Same length, first and last four bytes: no perfect table.
		{"inseparable", []string{"abcdXefgh", "abcdYefgh"}, false, []string{"abcdZefgh", "abcdefgh", "ab"}},
		{"short names", []string{"aXb", "aYb"}, true, []string{"aZb", "ab"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var sels []string
			for _, n := range tt.names {
				sels = append(sels, strconv.Quote(n))
			}
			path := "$.*"
			if len(sels) > 0 {
				path = "$[" + strings.Join(sels, ",") + "]"
			}
			q, err := jsonpath.Parse(path)
			if err != nil {
				t.Fatal(err)
			}
			d := newMatcher([]*jsonpath.Query{q}).root
			if len(d.names) != len(tt.names) {
				t.Fatalf("state names %q, want %q", d.names, tt.names)
			}
			if got := d.tab != nil; got != tt.wantTable {
				t.Errorf("perfect table = %v, want %v", got, tt.wantTable)
			}
			if got, want := d.nameMap != nil, !tt.wantTable && len(tt.names) > 8; got != want {
				t.Errorf("name map = %v, want %v", got, want)
			}
			for _, n := range tt.names {
				slot := d.nameSlot([]byte(n))
				if slot >= len(d.names) || d.names[slot] != n {
					t.Errorf("nameSlot(%q) = %d", n, slot)
				}
			}
			for _, n := range tt.misses {
				if slot := d.nameSlot([]byte(n)); slot != len(d.names) {
					t.Errorf("nameSlot(%q) = %d, want %d (other)", n, slot, len(d.names))
				}
			}
		})
	}
}
