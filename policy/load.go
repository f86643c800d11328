package policy

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// revision is one compiled policy revision. It is immutable once stored,
// except for its decision cache.
type revision struct {
	id        string
	pq        rego.PreparedEvalQuery
	readsBody bool
	uses      inputUse       // the input fields the modules and query can read
	decisions *decisionCache // decision value -> decoded decision
	// byInput maps an input (as buildInput leaves it) to its decision; nil
	// when decisions are not a function of the input alone (see
	// deterministic).
	byInput *decisionCache
	// byKey is byInput for inputs a key stands for (inputkey.go); set
	// with byInput.
	byKey *keyCache
}

// source is one loaded policy file; name is slash-separated and relative to
// the policy directory.
type source struct {
	name    string
	content []byte
}

// isPolicyFile reports whether name is a policy source (not a test).
func isPolicyFile(name string) bool {
	return strings.HasSuffix(name, ".rego") && !strings.HasSuffix(name, "_test.rego")
}

// readSources reads every policy source under the configured directory,
// sorted by name.
func (e *Engine) readSources() ([]source, error) {
	fsys, root := e.fsys, e.cfg.Dir
	if fsys == nil {
		fsys, root = os.DirFS(e.cfg.Dir), "."
	}
	var srcs []source
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root && strings.HasPrefix(d.Name(), ".") {
			// Hidden: editor files, and the ..data / ..<timestamp>
			// directories of a Kubernetes ConfigMap volume, whose files
			// also appear as symlinks at the top.
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() || !isPolicyFile(d.Name()) {
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, root+"/")
		if root == "." {
			name = p
		}
		srcs = append(srcs, source{name: path.Clean(name), content: b})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s: %w", ErrCompile, e.cfg.Dir, err)
	}
	if len(srcs) == 0 {
		return nil, fmt.Errorf("%w: no *.rego files in %s", ErrCompile, e.cfg.Dir)
	}
	sort.Slice(srcs, func(i, j int) bool { return srcs[i].name < srcs[j].name })
	return srcs, nil
}

// revisionID hashes the sorted sources: each name and content is
// length-prefixed so that no two different source sets share an encoding.
func revisionID(srcs []source) string {
	h := sha256.New()
	var n [8]byte
	for _, s := range srcs {
		binary.BigEndian.PutUint64(n[:], uint64(len(s.name)))
		h.Write(n[:])
		h.Write([]byte(s.name))
		binary.BigEndian.PutUint64(n[:], uint64(len(s.content)))
		h.Write(n[:])
		h.Write(s.content)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// load reads, parses, compiles and prepares the current sources.
func (e *Engine) load(ctx context.Context) (*revision, error) {
	srcs, err := e.readSources()
	if err != nil {
		return nil, err
	}
	id := revisionID(srcs)
	if cur := e.cur.Load(); cur != nil && cur.id == id {
		return cur, nil
	}
	modules := make(map[string]*ast.Module, len(srcs))
	popts := ast.ParserOptions{RegoVersion: ast.RegoV1}
	for _, s := range srcs {
		m, err := ast.ParseModuleWithOpts(s.name, string(s.content), popts)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCompile, err)
		}
		modules[s.name] = m
	}
	query, err := ast.ParseBodyWithOpts(e.cfg.Query, popts)
	if err != nil {
		return nil, fmt.Errorf("%w: query %q: %w", ErrCompile, e.cfg.Query, err)
	}
	compiler := ast.NewCompiler().WithDefaultRegoVersion(ast.RegoV1).WithCapabilities(capabilities())
	compiler.Compile(modules)
	if compiler.Failed() {
		return nil, fmt.Errorf("%w: %w", ErrCompile, compiler.Errors)
	}
	pq, err := rego.New(
		rego.Compiler(compiler),
		rego.ParsedQuery(query),
		rego.SetRegoVersion(ast.RegoV1),
		// Keep the result as an ast term: the decision is validated on
		// the typed value, with no JSON conversion of the whole result.
		rego.GenerateJSON(func(t *ast.Term, _ *rego.EvalContext) (any, error) { return t, nil }),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCompile, err)
	}
	reads, uses, det := readsBody(query), inputUses(query), deterministic(query)
	for _, m := range compiler.Modules {
		reads = reads || readsBody(m)
		uses |= inputUses(m)
		det = det && deterministic(m)
	}
	rev := &revision{id: id, pq: pq, readsBody: reads, uses: uses,
		decisions: &decisionCache{max: maxCachedDecisions}}
	if det && uses&(useTimeNS|useRequestID) == 0 {
		rev.byInput = &decisionCache{max: maxCachedInputs}
		rev.byKey = &keyCache{}
	}
	return rev, nil
}

// deterministic reports whether x calls no non-deterministic built-in
// (time, rand, uuid, http.send, net.lookup_*, ...; OPA flags them, and
// clockBuiltins adds those it does not): then, for a revision that reads
// neither input.time_ns nor input.request.id, a decision is a function of
// the input fields the revision reads (DESIGN "Decision cache"). Built-ins
// are found by the refs that name them, wherever they occur (operator of
// an expression, nested call), so a local variable shadowing a built-in's
// name can only make the answer false.
func deterministic(x any) bool {
	det := true
	ast.WalkRefs(x, func(r ast.Ref) bool {
		name := r.String()
		if b, ok := ast.BuiltinMap[name]; ok && (b.Nondeterministic || clockBuiltins[name]) {
			det = false
		}
		return !det
	})
	return det
}

// clockBuiltins are built-ins whose result depends on the current time,
// which they read implicitly, although OPA does not flag them
// Nondeterministic. The rest of OPA's built-ins were checked (v1.22.2,
// ast/builtins.go and topdown/): the others that read the clock or other
// ambient state are flagged (time.now_ns, io.jwt.decode_verify, rand.intn,
// uuid.rfc4122, io.jwt.encode_sign*, http.send, net.lookup_ip_addr,
// opa.runtime, json.verify_schema, json.match_schema); time.* with the
// "Local" zone reads the process time zone, fixed for the life of the
// process and so of the cache. Recheck on an OPA upgrade.
var clockBuiltins = map[string]bool{
	// Verifies the chain with x509.VerifyOptions{}: a zero CurrentTime
	// is time.Now(), so a chain that verifies now fails once a
	// certificate expires (or verifies once it becomes valid).
	ast.CryptoX509ParseAndVerifyCertificates.Name: true,
	// The same unless the options set CurrentTime; the options may be
	// computed at evaluation, so every call counts.
	ast.CryptoX509ParseAndVerifyCertificatesWithOptions.Name: true,
}

// bodyPath is the input path of the request body.
var bodyPath = []string{"request", "body"}

// readsBody reports whether x refers to input in a way that may read
// input.request.body. Refs are resolved (imports applied) by the compiler.
func readsBody(x any) bool {
	found := false
	ast.WalkRefs(x, func(r ast.Ref) bool {
		if found || !r.HasPrefix(ast.InputRootRef) {
			return found
		}
		// r is input.<k1>.<k2>...; it can reach the body unless a constant
		// key leaves the request.body path.
		for i, want := range bodyPath {
			if len(r) <= i+1 {
				found = true // input, input.request: the whole body too
				return true
			}
			s, ok := r[i+1].Value.(ast.String)
			if !ok {
				found = true // dynamic key
				return true
			}
			if string(s) != want {
				// body_state is only meaningful if the gateway read the
				// body to classify it: it counts as reading the body.
				if i == 1 && string(s) == "body_state" {
					found = true
					return true
				}
				return false
			}
		}
		found = true
		return true
	})
	return found
}
