//go:build !race

package vault

import (
	"testing"
	"time"
)

// staticVaultRing is a VaultKeyring with an installed snapshot and no Vault
// behind it, to measure the in-memory hot path.
func staticVaultRing(versions int) *VaultKeyring {
	k := &VaultKeyring{}
	n := &vaultName{minDec: 1, wrapped: map[int]string{}}
	for v := 1; v <= versions; v++ {
		n.versions = append(n.versions, Key{Name: "pii", Version: v, Material: make([]byte, 32), Activation: time.Unix(int64(v), 0)})
	}
	k.state.Store(&vaultState{keys: map[string]*vaultName{"pii": n}, loaded: time.Now()})
	return k
}

func TestVaultKeyringHotPathAllocatesNothing(t *testing.T) {
	k := staticVaultRing(8)
	now := time.Now()
	if a := testing.AllocsPerRun(1000, func() {
		if _, err := k.Primary("pii", now); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Fatalf("Primary: %v allocs/op", a)
	}
	if a := testing.AllocsPerRun(1000, func() {
		if _, err := k.Version("pii", 3); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Fatalf("Version: %v allocs/op", a)
	}
}

func BenchmarkVaultKeyringPrimary(b *testing.B) {
	k := staticVaultRing(8)
	now := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := k.Primary("pii", now); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkVaultKeyringVersion(b *testing.B) {
	k := staticVaultRing(8)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := k.Version("pii", 3); err != nil {
				b.Fatal(err)
			}
		}
	})
}
