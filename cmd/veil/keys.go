package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/veilgw/veil/proxy"
	"github.com/veilgw/veil/vault"
)

func keysCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Inspect the keyring"}
	var cfgPath string
	status := &cobra.Command{
		Use:   "status",
		Short: "List keys, versions, activation times and the primary version (never key material)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := proxy.LoadConfig(cfgPath)
			if err != nil {
				return err
			}
			kr, err := vault.Open(cfg.Keys)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tVERSION\tACTIVATION\tPRIMARY\tMIN_DECRYPTION")
			for _, st := range kr.Status() {
				for i, v := range st.Versions {
					primary := ""
					if v == st.Primary {
						primary = "yes"
					}
					fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%d\n", st.Name, v, st.Activations[i].Format(time.RFC3339), primary, st.MinDecryptionVersion)
				}
			}
			return w.Flush()
		},
	}
	status.Flags().StringVar(&cfgPath, "config", "veil.yaml", "config file (YAML)")
	cmd.AddCommand(status)
	return cmd
}
