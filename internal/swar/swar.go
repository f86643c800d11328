// Package swar holds the word-at-a-time byte test the JSON string
// scanners share: the rewriter's strict scanner (transforms) and the audit
// encoder's escaper skip runs of ordinary string bytes eight at a time.
package swar

const (
	// Lo has 1 in every byte, Hi bit 7 of every byte.
	Lo = 0x0101010101010101
	Hi = 0x8080808080808080
)

// Special flags (bit 7 of the byte) the bytes of the little-endian word x
// that end a run of ordinary JSON string bytes: '"', '\\', control
// characters and non-ASCII bytes. The lowest flagged byte is exactly the
// first special one: below it every byte is printable ASCII, for which
// none of the subtractions borrows or sets bit 7. Higher flags may be
// spurious (a borrow propagates upwards from a special byte).
func Special(x uint64) uint64 {
	return ((x - Lo*0x20) | ((x ^ Lo*'"') - Lo) | ((x ^ Lo*'\\') - Lo) | x) & Hi
}
