package main

import (
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/veilgw/veil/proxy"
)

func serveCmd() *cobra.Command {
	var cfgPath string
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the gateway with a config file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := proxy.LoadConfig(cfgPath)
			if err != nil {
				return err
			}
			log, err := zap.NewProduction()
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			g, err := proxy.New(cfg, proxy.Options{Logger: log})
			if err != nil {
				return err
			}
			return g.Run(cmd.Context(), grace)
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "veil.yaml", "config file (YAML)")
	cmd.Flags().DurationVar(&grace, "grace", 30*time.Second, "how long in-flight requests may take to finish on SIGTERM")
	return cmd
}
