package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/veilgw/veil/audit"
)

func auditCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Verify the audit trail"}
	var asJSON bool
	verify := &cobra.Command{
		Use:   "verify FILE...",
		Short: "Check the hash chains of audit files (oldest first; gzip accepted); exit 1 on any damage",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := audit.Verify(args...)
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
					fmt.Fprintf(out, "chain %s: %d events verified, last seq %d\n", c.ID, c.Events, c.LastSeq)
				}
				for _, d := range rep.Damages {
					fmt.Fprintf(out, "DAMAGE %s:%d chain %s seq %d: %s (%s)\n", d.File, d.Line, d.Chain, d.Seq, d.Kind, d.Detail)
				}
				if rep.OK() {
					fmt.Fprintln(out, "OK: every chain is intact (a truncated tail needs signed checkpoints to be detected)")
				}
			}
			if !rep.OK() {
				return exitError{1}
			}
			return nil
		},
	}
	verify.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.AddCommand(verify)
	return cmd
}
