//go:build !linux

package vault

import "os/exec"

// setDeathSignal is Linux-only; elsewhere TestMain's stop kills the server.
func setDeathSignal(cmd *exec.Cmd) {}
