// Package demo provides the sample upstreams that `veil demo`, the
// end-to-end tests and the benchmarks put behind the gateway: a CRM and an
// HRM JSON API served by fasthttp request handlers over a thread-safe,
// in-memory store filled with deterministic generated data (same seed, same
// records), plus the dev identities (Users, Tokens) that exercise every role
// of the shipped policies in rego/.
//
// Everything here is fake: names, emails, phone numbers, SSNs, national ids,
// IBANs and notes are generated from small word lists and a seeded
// math/rand/v2 source. The APIs behave like honest upstreams: every response
// body is exactly the JSON of what is stored, so the gateway's tests can
// tell a transform from an upstream quirk. SensitiveFixtureValues lists the
// protected values for leak scanning.
//
// The package knows nothing about the gateway: not its config, policies,
// transforms or audit. It must never be used as a real upstream.
package demo
