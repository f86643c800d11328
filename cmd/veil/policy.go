package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/veilgw/veil/policy"
	"github.com/veilgw/veil/proxy"
	"github.com/veilgw/veil/transforms"
)

func policyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Test and evaluate Rego policies"}
	var verbose bool
	test := &cobra.Command{
		Use:   "test [DIR]",
		Short: "Run Rego unit tests (*_test.rego), like `opa test`",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "./rego"
			if len(args) == 1 {
				dir = args[0]
			}
			pass, fail, err := policy.RunTests(cmd.Context(), dir, nil, cmd.OutOrStdout(), verbose)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d passed, %d failed\n", pass, fail)
			if fail > 0 || pass == 0 {
				return exitError{1}
			}
			return nil
		},
	}
	test.Flags().BoolVarP(&verbose, "verbose", "v", false, "print every test")

	var cfgPath, inputPath string
	var explain bool
	eval := &cobra.Command{
		Use:   "eval --config veil.yaml --input req.json [--explain]",
		Short: "Evaluate the decision for one policy input and validate it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := proxy.LoadConfig(cfgPath)
			if err != nil {
				return err
			}
			data, err := os.ReadFile(inputPath)
			if err != nil {
				return err
			}
			in, err := policy.InputFromJSON(data)
			if err != nil {
				return err
			}
			eng, err := policy.New(cfg.Policy, policy.Options{Logger: zap.NewNop(), Timeout: cfg.Limits.PolicyTimeout, MaxJSONDepth: cfg.Limits.MaxJSONDepth})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			var d *policy.Decision
			if explain {
				d, err = eng.Explain(cmd.Context(), in, out)
			} else {
				d, err = eng.Decide(cmd.Context(), in)
			}
			if err != nil {
				return err
			}
			// Validate the rules exactly as the gateway will.
			for dir, rules := range map[string][]transforms.Rule{"request_transforms": d.RequestTransforms, "response_transforms": d.ResponseTransforms} {
				if _, err := transforms.Compile(rules, transforms.Options{RecordIDs: recordIDsFor(dir, d)}); err != nil {
					return fmt.Errorf("invalid decision: %s: %w", dir, err)
				}
			}
			enc := json.NewEncoder(out)
			enc.SetIndent("", "  ")
			return enc.Encode(decisionJSON(d))
		},
	}
	eval.Flags().StringVar(&cfgPath, "config", "veil.yaml", "config file (YAML)")
	eval.Flags().StringVar(&inputPath, "input", "", "policy input JSON file (README \"Policy input\")")
	eval.Flags().BoolVar(&explain, "explain", false, "print the full evaluation trace before the decision")
	_ = eval.MarkFlagRequired("input")
	cmd.AddCommand(test, eval)
	return cmd
}

func recordIDsFor(dir string, d *policy.Decision) string {
	if dir == "response_transforms" {
		return d.Audit.RecordIDs
	}
	return ""
}

func decisionJSON(d *policy.Decision) map[string]any {
	m := map[string]any{
		"allow":               d.Allow,
		"request_transforms":  rulesJSON(d.RequestTransforms),
		"response_transforms": rulesJSON(d.ResponseTransforms),
		"audit":               map[string]any{"record_ids": d.Audit.RecordIDs, "path": d.Audit.Path, "tags": d.Audit.Tags},
		"revision":            d.Revision,
	}
	if d.Status != 0 {
		m["status"] = d.Status
	}
	if d.Reason != "" {
		m["reason"] = d.Reason
	}
	return m
}

func rulesJSON(rules []transforms.Rule) []map[string]any {
	out := make([]map[string]any, 0, len(rules))
	for _, r := range rules {
		m := map[string]any{"path": r.Path, "action": r.Action}
		for k, v := range r.Params {
			m[k] = v
		}
		if r.Where != nil {
			m["where"] = r.Where
		}
		out = append(out, m)
	}
	return out
}
