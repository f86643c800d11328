package proxy

import (
	"strconv"
	"unicode/utf8"

	"github.com/valyala/fasthttp"
)

// errCode is a client-visible error kind. Every failure the gateway reports
// is one of these; the table below maps each to its status and its fixed
// message. Messages never echo a value from the request or the upstream.
type errCode uint8

const (
	errNone errCode = iota
	errBadPath
	errBadRequest
	errSmuggling
	errRequestTimeout
	errInvalidJSON
	errDuplicateKey
	errUnsupportedEncoding
	errUnauthorized
	errPolicyDenied
	errNoRoute
	errBodyTooLarge
	errPolicyError
	errPolicyTimeout
	errInvalidDecision
	errUpstreamUnavailable
	errUpstreamBadBody
	errUpstreamTooLarge
	errUpstreamEncoding
	errKeyUnavailable
	errAuditUnavailable
	errOverload
	errUpstreamTimeout
	errUpgradeRefused
	errHeaderTooLarge
	errPrecondition
	errInternal
	errCount
)

type errInfo struct {
	status  int
	code    string
	message string
}

// errTable is the one place where failures map to statuses (DESIGN "Errors").
var errTable = [errCount]errInfo{
	errNone:                {200, "", ""},
	errBadPath:             {400, "bad_path", "the request path is not allowed"},
	errBadRequest:          {400, "bad_request", "the request is malformed"},
	errSmuggling:           {400, "bad_request", "ambiguous request framing"},
	errRequestTimeout:      {408, "request_timeout", "the request did not arrive in time"},
	errInvalidJSON:         {400, "invalid_json", "the request body must be one valid JSON document"},
	errDuplicateKey:        {400, "duplicate_key", "the request body has duplicate object keys"},
	errUnsupportedEncoding: {400, "unsupported_encoding", "the request body's content encoding is not supported"},
	errUnauthorized:        {401, "invalid_credentials", "the credential presented is not valid"},
	errPolicyDenied:        {403, "policy_denied", "denied by policy"},
	errNoRoute:             {404, "no_route", "no route matches this request"},
	errBodyTooLarge:        {413, "body_too_large", "the request body exceeds the size limit"},
	errPolicyError:         {500, "policy_error", "the policy could not be evaluated"},
	errPolicyTimeout:       {500, "policy_timeout", "the policy took too long to evaluate"},
	errInvalidDecision:     {500, "invalid_decision", "the policy returned an invalid decision"},
	errUpstreamUnavailable: {502, "upstream_unavailable", "the upstream service could not be reached"},
	errUpstreamBadBody:     {502, "upstream_invalid_json", "the upstream response could not be protected"},
	errUpstreamTooLarge:    {502, "upstream_too_large", "the upstream response exceeds the size limit"},
	errUpstreamEncoding:    {502, "upstream_encoding", "the upstream response's content encoding is not supported"},
	errKeyUnavailable:      {503, "key_unavailable", "a protection key is not available"},
	errAuditUnavailable:    {503, "audit_unavailable", "the audit trail is not available"},
	errOverload:            {503, "overloaded", "the gateway is overloaded"},
	errUpstreamTimeout:     {504, "upstream_timeout", "the upstream service timed out"},
	errUpgradeRefused:      {403, "upgrade_refused", "protocol upgrades are not allowed on this route"},
	errHeaderTooLarge:      {431, "headers_too_large", "the request headers are too large"},
	errPrecondition:        {412, "precondition_failed", "this route's responses are rewritten: a write can be conditional only on existence (If-Match: * or If-None-Match: *)"},
	errInternal:            {500, "internal_error", "internal error"},
}

func (c errCode) status() int     { return errTable[c].status }
func (c errCode) String() string  { return errTable[c].code }
func (c errCode) message() string { return errTable[c].message }

// setError prepares a JSON error response: status and headers on resp, the
// body appended to dst and returned. status overrides the table's status
// when non-zero (a policy may choose another 4xx); message overrides the
// fixed message when non-empty (a policy's reason, already bounded by the
// caller).
func setError(dst []byte, resp *fasthttp.Response, c errCode, status int, message, requestID string) []byte {
	if status == 0 {
		status = c.status()
	}
	if message == "" {
		message = c.message()
	}
	resp.ResetBody()
	resp.SetStatusCode(status)
	resp.Header.SetContentType("application/json")
	if c == errUnauthorized {
		resp.Header.Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	}
	dst = append(dst, `{"error":{"code":`...)
	dst = strconv.AppendQuote(dst, c.String())
	dst = append(dst, `,"message":`...)
	dst = appendJSONString(dst, message)
	dst = append(dst, `,"request_id":`...)
	dst = appendJSONString(dst, requestID)
	return append(dst, "}}\n"...)
}

// appendJSONString appends s as a JSON string literal. Bytes that are not
// UTF-8 (a policy's reason can quote a header value) become U+FFFD, so the
// body is JSON for strict parsers too.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20 || c == 0x7f:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		case c == '<' || c == '>' || c == '&':
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				dst = append(dst, `\ufffd`...)
				continue
			}
			dst = append(dst, s[i:i+n]...)
			i += n - 1
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
