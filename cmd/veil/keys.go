package main

import (
	"fmt"
	"strconv"
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
			kr, _, closeKeys, err := openKeyring(cfgPath)
			if err != nil {
				return err
			}
			defer closeKeys()
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tVERSION\tACTIVATION\tPRIMARY\tMIN_DECRYPTION\tLAST_REFRESH")
			for _, st := range kr.Status() {
				for i, v := range st.Versions {
					primary := "-"
					if v == st.Primary {
						primary = "yes"
					}
					fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%d\t%s\n", st.Name, v, st.Activations[i].Format(time.RFC3339), primary,
						st.MinDecryptionVersion, st.LastRefresh.UTC().Format(time.RFC3339))
				}
			}
			return w.Flush()
		},
	}
	status.Flags().StringVar(&cfgPath, "config", "veil.yaml", "config file (YAML)")

	var activateIn time.Duration
	rotate := &cobra.Command{
		Use:   "rotate NAME [--activate-in D]",
		Short: "Create a new version of a data key; it becomes primary on every replica once D has passed",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := openManager(cmd, cfgPath)
			if err != nil {
				return err
			}
			defer m.Close()
			v, err := m.Rotate(cmd.Context(), args[0], activateIn)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: version %d created, primary from %s\n", args[0], v, time.Now().Add(activateIn).UTC().Format(time.RFC3339))
			return nil
		},
	}
	rotate.Flags().DurationVar(&activateIn, "activate-in", 0, "delay before the new version becomes primary (use at least keys.vault.refresh_interval so replicas agree)")
	rotate.Flags().StringVar(&cfgPath, "config", "veil.yaml", "config file (YAML)")

	retire := &cobra.Command{
		Use:   "retire NAME VERSION",
		Short: "Set the minimum decryption version: versions below VERSION stop decrypting (crypto-shredding)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := strconv.Atoi(args[1])
			if err != nil || v < 1 {
				return fmt.Errorf("keys retire: VERSION must be a positive integer")
			}
			m, err := openManager(cmd, cfgPath)
			if err != nil {
				return err
			}
			defer m.Close()
			if err := m.Retire(cmd.Context(), args[0], v); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: versions below %d retired\n", args[0], v)
			return nil
		},
	}
	retire.Flags().StringVar(&cfgPath, "config", "veil.yaml", "config file (YAML)")
	cmd.AddCommand(status, rotate, retire)
	return cmd
}

// openManager opens the configured keyring for rotation and retirement,
// which only the Vault provider supports (the local dev keyring is fixed).
func openManager(cmd *cobra.Command, cfgPath string) (vault.Manager, error) {
	cfg, err := proxy.LoadConfig(cfgPath)
	if err != nil {
		return nil, err
	}
	if p := cfg.Keys.Provider; p == "" || p == "local" {
		return nil, fmt.Errorf("keys %s needs keys.provider: vault (the %q provider's keys are fixed)", cmd.Name(), "local")
	}
	kr, provider, closeKeys, err := openKeyring(cfgPath)
	if err != nil {
		return nil, err
	}
	m, ok := kr.(vault.Manager)
	if !ok {
		closeKeys()
		return nil, fmt.Errorf("keys %s needs keys.provider: vault (the %q provider's keys are fixed)", cmd.Name(), provider)
	}
	return m, nil
}

// openKeyring opens the keyring a config file names; closeKeys releases it
// (the Vault provider runs background renewal and refresh).
func openKeyring(cfgPath string) (kr vault.Keyring, provider string, closeKeys func(), err error) {
	cfg, err := proxy.LoadConfig(cfgPath)
	if err != nil {
		return nil, "", nil, err
	}
	if p := cfg.Keys.Provider; p == "" || p == "local" {
		// The commands only read keys: never create a key file or a key.
		l, err := vault.ReadLocal(cfg.Keys.Local)
		if err != nil {
			return nil, "", nil, err
		}
		return l, "local", func() {}, nil
	}
	kr, err = vault.Open(cfg.Keys)
	if err != nil {
		return nil, "", nil, err
	}
	closeKeys = func() {}
	if c, ok := kr.(interface{ Close() }); ok {
		closeKeys = c.Close
	}
	return kr, cfg.Keys.Provider, closeKeys, nil
}
