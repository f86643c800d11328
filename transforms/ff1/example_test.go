package ff1_test

import (
	"encoding/hex"
	"fmt"

	"github.com/veilgw/veil/transforms/ff1"
)

// NIST SP 800-38G FF1 sample 2: AES-128, radix 10, 10-byte tweak.
func Example() {
	key, _ := hex.DecodeString("2b7e151628aed2a6abf7158809cf4f3c")
	c, err := ff1.New(key, 10, 16)
	if err != nil {
		panic(err)
	}
	tweak := []byte("9876543210")
	pt := []uint16{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	ct, err := c.Encrypt(nil, pt, tweak)
	if err != nil {
		panic(err)
	}
	back, _ := c.Decrypt(nil, ct, tweak)
	fmt.Println(ct)
	fmt.Println(back)
	_, err = c.Encrypt(nil, pt[:5], tweak)
	fmt.Println(err)
	// Output:
	// [6 1 2 4 2 0 0 7 7 3]
	// [0 1 2 3 4 5 6 7 8 9]
	// ff1: encrypt: 5 numerals of radix 10: ff1: domain too small
}
