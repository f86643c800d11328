package main

import (
	"io"
	"os"
	"testing"
)

// Env vars that turn the test binary into the veil binary (see
// startVeil in crash_test.go): a test that must SIGKILL a gateway needs it
// in a separate OS process, and re-executing the test binary gives one
// built from the same code, race detector included.
const (
	// childEnv = "1" runs main() with os.Args[1:] instead of the tests.
	childEnv = "VEIL_TEST_MAIN"
	// stdinGuardEnv = "1" makes that child exit when its stdin reaches EOF:
	// the parent holds the other end, so a parent that dies without
	// running its cleanups (a test timeout, a crash) takes the child along.
	stdinGuardEnv = "VEIL_TEST_STDIN_GUARD"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		if os.Getenv(stdinGuardEnv) == "1" {
			go func() {
				_, _ = io.Copy(io.Discard, os.Stdin)
				os.Exit(3)
			}()
		}
		main() // exits non-zero itself on failure
		os.Exit(0)
	}
	os.Exit(m.Run())
}
