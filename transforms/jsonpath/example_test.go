package jsonpath_test

import (
	"fmt"

	"github.com/veilgw/veil/transforms/jsonpath"
)

func ExampleQuery_Select() {
	q, err := jsonpath.Parse(`$.items[?@.status == 'closed'].email`)
	if err != nil {
		panic(err)
	}
	nodes, err := q.Select([]byte(`{"items":[{"status":"open","email":"a@x.io"},{"status":"closed","email":"b@x.io"}]}`))
	if err != nil {
		panic(err)
	}
	for _, n := range nodes {
		fmt.Println(n.Path, string(n.Value))
	}
	// Output: $['items'][1]['email'] "b@x.io"
}

func ExampleFilter_Test() {
	q := jsonpath.MustParse(`$.items[?@.tier >= $.minTier]`)
	f := q.Segments[1].Selectors[0].Filter
	ctx := jsonpath.NewEvalContext([]byte(`{"minTier":2,"items":[]}`))
	fmt.Println(f.Test(ctx, []byte(`{"tier":3}`)), f.Test(ctx, []byte(`{"tier":1}`)))
	// Output: true false
}

func ExampleParse_error() {
	_, err := jsonpath.Parse(`$[?length(@.*) > 1]`)
	fmt.Println(err)
	// Output: jsonpath: invalid query: at offset 10: argument must be a value: a literal, a singular query or a value function, found '@'
}

func ExampleAppendNormalizedName() {
	path := jsonpath.AppendNormalizedName([]byte("$"), "it's")
	path = jsonpath.AppendNormalizedIndex(path, 0)
	fmt.Println(string(path))
	// Output: $['it\'s'][0]
}
