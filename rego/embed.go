// Package rego ships Veil's default policies: the helper library
// (rego/lib, package veil.lib), one policy per sample API (crm.rego,
// hrm.rego) and the entry point main.rego producing data.veil.decision,
// together with their Rego unit tests (*_test.rego).
//
// FS embeds every .rego file of this directory tree so that `veil demo`
// runs without a policy directory. The package holds no Go logic: loading,
// compiling and evaluating policies belong to package policy, and the
// policies know nothing about the gateway beyond the documented input
// and decision contracts (DESIGN "Policy input", "Decision").
package rego

import "embed"

// FS holds the shipped policies and their tests, paths relative to this
// directory ("main.rego", "lib/lib.rego", "crm_test.rego", ...). Loaders
// exclude *_test.rego when building a policy revision.
//
//go:embed *.rego lib/*.rego
var FS embed.FS
