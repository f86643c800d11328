package demo

import (
	"errors"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"
)

// List pagination bounds shared by every collection endpoint.
const (
	// DefaultLimit is the page size when the query has no limit.
	DefaultLimit = 50
	// MaxLimit caps the limit query parameter (larger values are clamped).
	MaxLimit = 1000
)

const contentTypeJSON = "application/json"

var errBadPage = errors.New("demo: limit and offset must be non-negative integers")

// segments splits the request path into its non-empty segments.
func segments(ctx *fasthttp.RequestCtx) []string {
	return strings.FieldsFunc(string(ctx.Path()), func(r rune) bool { return r == '/' })
}

// page reads limit (default DefaultLimit, clamped to MaxLimit) and offset
// (default 0) from the query string.
func page(ctx *fasthttp.RequestCtx) (offset, limit int, err error) {
	limit = DefaultLimit
	args := ctx.QueryArgs()
	if v := args.Peek("limit"); v != nil {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 0 {
			return 0, 0, errBadPage
		}
		limit = min(n, MaxLimit)
	}
	if v := args.Peek("offset"); v != nil {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 0 {
			return 0, 0, errBadPage
		}
		offset = n
	}
	return offset, limit, nil
}

// query returns a query parameter and whether it is present.
func query(ctx *fasthttp.RequestCtx, name string) (string, bool) {
	v := ctx.QueryArgs().Peek(name)
	return string(v), v != nil
}

// writeJSON sends body as the JSON response with the given status.
func writeJSON(ctx *fasthttp.RequestCtx, status int, body []byte) {
	ctx.SetStatusCode(status)
	ctx.SetContentType(contentTypeJSON)
	ctx.SetBody(body)
}

// writeList sends {"<name>":[...],"total":N,"offset":o,"limit":l}.
func writeList[T any](ctx *fasthttp.RequestCtx, name string, t *table[T], keep func(*T) bool) {
	offset, limit, err := page(ctx)
	if err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, "bad_query", "limit and offset must be non-negative integers")
		return
	}
	b := make([]byte, 0, 4096)
	b = append(b, `{"`...)
	b = append(b, name...)
	b = append(b, `":`...)
	b, total := t.list(b, keep, offset, limit)
	b = append(b, `,"total":`...)
	b = strconv.AppendInt(b, int64(total), 10)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, int64(offset), 10)
	b = append(b, `,"limit":`...)
	b = strconv.AppendInt(b, int64(limit), 10)
	b = append(b, '}')
	writeJSON(ctx, fasthttp.StatusOK, b)
}

// writeError sends {"error":{"code":...,"message":...}}; messages are
// fixed strings, never request values.
func writeError(ctx *fasthttp.RequestCtx, status int, code, message string) {
	writeJSON(ctx, status, marshal(struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}{Error: struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{code, message}}))
}

func notFound(ctx *fasthttp.RequestCtx, what string) {
	writeError(ctx, fasthttp.StatusNotFound, "not_found", what+" not found")
}

func methodNotAllowed(ctx *fasthttp.RequestCtx, allow string) {
	ctx.Response.Header.Set(fasthttp.HeaderAllow, allow)
	writeError(ctx, fasthttp.StatusMethodNotAllowed, "method_not_allowed", "method not allowed")
}

func badBody(ctx *fasthttp.RequestCtx, err error) {
	msg := "request body must be one JSON object with known fields"
	var v validationError
	if errors.As(err, &v) {
		msg = string(v)
	}
	writeError(ctx, fasthttp.StatusBadRequest, "invalid_body", msg)
}

// validationError is a fixed message about a missing required field.
type validationError string

func (e validationError) Error() string { return "demo: " + string(e) }

// getOne sends the record with this id or a 404.
func getOne[T any](ctx *fasthttp.RequestCtx, t *table[T], id, what string) {
	raw, ok := t.get(id)
	if !ok {
		notFound(ctx, what)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, raw)
}

// createOne decodes the body into a new record, checks it and stores it
// with the next id: 201 with the stored object.
func createOne[T any](ctx *fasthttp.RequestCtx, t *table[T], check func(*T) error) {
	var v T
	if err := decodeBody(ctx.PostBody(), &v); err != nil {
		badBody(ctx, err)
		return
	}
	if err := check(&v); err != nil {
		badBody(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusCreated, t.create(v))
}

// updateOne handles PUT (replace) and PATCH (merge) of one record.
func updateOne[T any](ctx *fasthttp.RequestCtx, t *table[T], id, what string, check func(*T) error) {
	raw, found, err := t.update(id, ctx.PostBody(), ctx.IsPatch(), check)
	switch {
	case !found:
		notFound(ctx, what)
	case err != nil:
		badBody(ctx, err)
	default:
		writeJSON(ctx, fasthttp.StatusOK, raw)
	}
}
