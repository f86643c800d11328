// Package roleviews holds only tests: it runs the shipped policies
// (package rego) against the demo upstreams' data (package demo) through
// the real transforms engine, and checks that each role sees what its
// policy promises and nothing else.
//
// It lives apart from package rego so that `go test ./rego/` needs
// nothing but OPA; run both with `go test ./rego/...`.
package roleviews
