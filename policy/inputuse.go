package policy

import "github.com/open-policy-agent/opa/v1/ast"

// inputUse is the set of input fields a policy revision can read, one bit
// per leaf of the DESIGN "Policy input" document. buildInput leaves out the
// fields a revision cannot read: a policy cannot tell an absent field it
// never refers to from a present one, so its decisions are unchanged and
// the input costs only what the policy reads.
type inputUse uint32

const (
	useMethod inputUse = 1 << iota
	useHost
	usePath
	useSegments
	useQuery
	useHeaders
	useBodyState
	useBody
	useClientIP
	useRequestID
	useRouteName
	useRoutePrefix
	useAuthenticated
	useSubjectID
	useRoles
	useClaims
	useSubjectMethod
	useTimeNS

	useRequest = useMethod | useHost | usePath | useSegments | useQuery | useHeaders |
		useBodyState | useBody | useClientIP | useRequestID
	useRoute   = useRouteName | useRoutePrefix
	useSubject = useAuthenticated | useSubjectID | useRoles | useClaims | useSubjectMethod
	useAll     = useRequest | useRoute | useSubject | useTimeNS
)

// inputFields maps each object of the input to the bits of its keys.
var inputFields = map[string]struct {
	all  inputUse
	keys map[string]inputUse
}{
	"request": {useRequest, map[string]inputUse{
		"method": useMethod, "host": useHost, "path": usePath, "segments": useSegments,
		"query": useQuery, "headers": useHeaders, "body_state": useBodyState, "body": useBody,
		"client_ip": useClientIP, "id": useRequestID,
	}},
	"route": {useRoute, map[string]inputUse{"name": useRouteName, "prefix": useRoutePrefix}},
	"subject": {useSubject, map[string]inputUse{
		"authenticated": useAuthenticated, "id": useSubjectID, "roles": useRoles,
		"claims": useClaims, "method": useSubjectMethod,
	}},
	"time_ns": {useTimeNS, nil},
}

// inputUses returns the input fields that the refs of x (compiled modules
// and the query: imports and `with` targets are refs too) can reach. A
// reference to input or one of its objects as a whole, or through a
// non-constant key, uses every field below it.
func inputUses(x any) inputUse {
	var use inputUse
	ast.WalkRefs(x, func(r ast.Ref) bool {
		if use == useAll || !r.HasPrefix(ast.InputRootRef) {
			return false
		}
		if len(r) < 2 {
			use = useAll
			return false
		}
		k1, ok := r[1].Value.(ast.String)
		if !ok {
			use = useAll
			return false
		}
		f, known := inputFields[string(k1)]
		if !known {
			return false // a key the gateway never sets: absent either way
		}
		if len(r) < 3 || f.keys == nil {
			use |= f.all
			return false
		}
		k2, ok := r[2].Value.(ast.String)
		if !ok {
			use |= f.all
			return false
		}
		use |= f.keys[string(k2)]
		return false
	})
	return use
}
