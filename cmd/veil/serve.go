package main

import (
	"os"
	"os/signal"
	"syscall"
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
			// SIGHUP: reload key versions from Vault and the API keys file now.
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			go func() {
				for range hup {
					if err := g.RefreshKeys(cmd.Context()); err != nil {
						log.Warn("key refresh on SIGHUP failed", zap.Error(err))
					} else {
						log.Info("keys refreshed on SIGHUP")
					}
					if err := g.ReloadAPIKeys(); err != nil {
						log.Warn("api_keys_file reload on SIGHUP failed; the keys in use stay", zap.Error(err))
					} else {
						log.Info("api_keys_file reloaded on SIGHUP")
					}
				}
			}()
			return g.Run(cmd.Context(), grace)
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "veil.yaml", "config file (YAML)")
	cmd.Flags().DurationVar(&grace, "grace", 30*time.Second, "how long in-flight requests may take to finish on SIGTERM")
	return cmd
}
