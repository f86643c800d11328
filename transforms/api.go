// Package transforms selects JSON values with JSONPath (package jsonpath)
// and rewrites them in one pass over the body bytes: redact, replace, mask,
// hash, generalize, tokenize/detokenize, encrypt/decrypt, fpe/fpe_decrypt.
//
// It owns rule compilation (once per distinct rule set), the single-pass
// scanner/rewriter, the actions (one file each, registered in one table) and
// the per-body result that the audit event summarises. It knows nothing
// about HTTP, policies or audit sinks; keys come through vault.Keyring.
package transforms

import (
	"context"
	"errors"
	"time"

	"github.com/veilgw/veil/vault"
)

// Errors returned by Compile and Rewrite. The gateway maps them to statuses
// in one place (package proxy).
var (
	// ErrInvalidRule: a rule is malformed (unknown action, bad JSONPath,
	// missing or bad parameter). Compile wraps it with the rule index.
	ErrInvalidRule = errors.New("transforms: invalid rule")
	// ErrInvalidJSON: the body is not exactly one valid JSON document.
	ErrInvalidJSON = errors.New("transforms: invalid JSON")
	// ErrTooDeep: nesting deeper than Options.MaxDepth.
	ErrTooDeep = errors.New("transforms: JSON nested too deeply")
	// ErrKeyUnavailable: an action needs a key the keyring cannot serve
	// (wraps the vault error). The gateway answers 503.
	ErrKeyUnavailable = errors.New("transforms: key unavailable")
)

// Rule is one entry of a decision's request_transforms or
// response_transforms, as the policy wrote it.
type Rule struct {
	// Path is an RFC 9535 JSONPath (see README for the supported subset).
	Path string `json:"path"`
	// Action names a registered action: redact, replace, mask, hash,
	// generalize, ...
	Action string `json:"action"`
	// Where is an optional per-node condition evaluated on the original
	// value of each node Path selects.
	Where *Where `json:"where,omitempty"`
	// Params holds every other key of the rule object (keep_last, char,
	// key, value, mode, bucket, ...), as decoded JSON values
	// (string, json.Number or float64, bool, nil, []any, map[string]any).
	Params map[string]any `json:"-"`
}

// Where is a structured condition on a selected node. Field is a member
// name of the node ("owner_id") or a relative singular JSONPath starting
// with "@" ("@.owner.id"); Value is any JSON value; never build JSONPath
// strings from input values.
type Where struct {
	Field string `json:"field"`
	// Op is one of ==, !=, <, <=, >, >=, in, not_in, exists, not_exists.
	Op    string `json:"op"`
	Value any    `json:"value,omitempty"`
}

// Options are fixed when a Program is compiled.
type Options struct {
	// Keys serves key versions to keyed actions (hash, tokenize, ...).
	Keys vault.Keyring
	// MaxDepth bounds JSON nesting; 0 means 128, at most jsonpath.MaxDepth
	// (1000).
	MaxDepth int
	// RecordIDs is an optional JSONPath whose selected values (after the
	// rewrite decided which nodes survive) are collected into
	// Result.RecordIDs. Empty: none.
	RecordIDs string
	// MaxRecordIDs caps Result.RecordIDs; 0 means 100.
	MaxRecordIDs int
	// Transit serves encrypt/decrypt rules with mode "transit" (Vault
	// transit; *vault.VaultKeyring implements it). nil: such rules still
	// compile, but Rewrite fails with ErrKeyUnavailable as soon as one of
	// them selects a value.
	Transit Transit
	// TransitTimeout bounds the transit calls of one Rewrite; 0 means 5s.
	TransitTimeout time.Duration
}

// Transit encrypts and decrypts values with a named key of a remote
// service (Vault transit), in batches: Rewrite makes at most one call per
// direction and transit key name. Implementations must be safe for
// concurrent use and must not retain the slices they are given.
type Transit interface {
	// EncryptBatch returns one ciphertext ("vault:v<N>:...") per
	// plaintext, in order; any failure is an error for the whole call.
	EncryptBatch(ctx context.Context, key string, plaintexts [][]byte) ([]string, error)
	// DecryptBatch returns one plaintext per ciphertext, in order; ok[i]
	// false means item i failed (e.g. not a valid ciphertext of that key)
	// while err is for the whole call (unreachable, permission denied).
	DecryptBatch(ctx context.Context, key string, ciphertexts []string) (plaintexts [][]byte, ok []bool, err error)
}

// RuleCount summarises what one rule did to one body, for the audit event.
type RuleCount struct {
	Path   string `json:"path"`
	Action string `json:"action"`
	Count  int    `json:"count"`
}

// Result is what Rewrite reports about one body. Reuse it with Reset.
type Result struct {
	// Rules has one entry per rule of the Program, in rule order.
	Rules []RuleCount
	// Failed counts values an action could not handle; each was redacted
	// instead (never passed through).
	Failed int
	// RecordIDs holds the JSON text of each collected record id, in its
	// original form, or in its protected form when the same node was
	// hashed/tokenized/encrypted. Capped by Options.MaxRecordIDs.
	RecordIDs []string
	// RecordIDsTruncated is true when the cap cut the list.
	RecordIDsTruncated bool
	// Changed reports whether the output differs from the input.
	Changed bool
}

// Now is the clock keyed actions use to pick primary key versions; tests
// may replace it.
var Now = time.Now
