package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/veilgw/veil/audit"
	"github.com/veilgw/veil/proxy"
)

func auditCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Verify, query and summarise the audit trail"}
	var asJSON bool
	var pubFile string
	var witness []string
	verify := &cobra.Command{
		Use:   "verify FILE...",
		Short: "Check the hash chains of audit files (oldest first; gzip accepted); exit 1 on any damage",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var pub ed25519.PublicKey
			if pubFile != "" {
				b, err := os.ReadFile(pubFile)
				if err != nil {
					return err
				}
				raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
				if err != nil || len(raw) != ed25519.PublicKeySize {
					return fmt.Errorf("audit verify: %s does not hold a base64 Ed25519 public key (veil audit pubkey prints one)", pubFile)
				}
				pub = raw
			}
			rep, err := audit.VerifyWith(audit.VerifyOptions{PublicKey: pub, Witness: witness}, args...)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				for _, c := range rep.Chains {
					fmt.Fprintf(out, "chain %s: %d events, last seq %d, last checkpoint seq %d", c.ID, c.Events, c.LastSeq, c.CheckpointSeq)
					if c.Prev != "" {
						fmt.Fprintf(out, ", continues %s", c.Prev)
						if c.PrevMissing {
							fmt.Fprint(out, " (not in these files)")
						}
					}
					if c.Witnessed > 0 {
						fmt.Fprintf(out, ", witnessed to seq %d", c.Witnessed)
					}
					fmt.Fprintln(out)
					if c.UnverifiedTail > 0 {
						fmt.Fprintf(out, "UNVERIFIED chain %s: %d event(s) after the last checkpoint, from seq %d at %s:%d: a crash, a truncated or a still-open file\n",
							c.ID, c.UnverifiedTail, c.CheckpointSeq+1, c.TailFile, c.TailLine)
					}
				}
				if !rep.SignaturesChecked {
					fmt.Fprintln(out, "note: no --pubkey given: checkpoint signatures were not checked")
				}
				for _, d := range rep.Damages {
					fmt.Fprintf(out, "DAMAGE %s:%d chain %s seq %d: %s (%s)\n", d.File, d.Line, d.Chain, d.Seq, d.Kind, d.Detail)
				}
				if rep.OK() {
					fmt.Fprintln(out, "OK: every chain is intact and covered by a checkpoint")
				}
			}
			if !rep.OK() {
				return exitError{1}
			}
			return nil
		},
	}
	verify.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	verify.Flags().StringArrayVar(&witness, "witness", nil, "a witness sink's file (checkpoint and segment records); every chain and checkpoint it knows must be in FILE... (repeatable)")
	verify.Flags().StringVar(&pubFile, "pubkey", "", "file with the base64 Ed25519 public key (veil audit pubkey) to check checkpoint signatures")

	var cfgPath string
	pubkey := &cobra.Command{
		Use:   "pubkey --config veil.yaml",
		Short: "Print the base64 Ed25519 public key that verifies audit checkpoints",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kr, _, closeKeys, err := openKeyring(cfgPath)
			if err != nil {
				return err
			}
			defer closeKeys()
			pub, err := proxy.AuditPublicKey(kr)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), base64.StdEncoding.EncodeToString(pub))
			return nil
		},
	}
	pubkey.Flags().StringVar(&cfgPath, "config", "veil.yaml", "config file (YAML)")
	cmd.AddCommand(verify, pubkey, auditQueryCmd(), auditReportCmd())
	return cmd
}
