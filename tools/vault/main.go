// Command vault is HashiCorp Vault's own CLI and server, built from the Go
// module proxy for Veil's integration tests (`vault server -dev` on a
// loopback port). It lives in its own module so that Vault's dependency
// graph never enters Veil's. Build it with scripts/build-vault.sh; the
// binary goes to the git-ignored .work/bin/.
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:]))
}
