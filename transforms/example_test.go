package transforms_test

import (
	"fmt"

	"github.com/veilgw/veil/transforms"
)

func Example() {
	rules := []transforms.Rule{
		{Path: "$.customers[*].ssn", Action: "mask", Params: map[string]any{"keep_last": 4, "ignore": "-"}},
		{Path: "$.customers[*].email", Action: "mask", Params: map[string]any{"format": "email"}},
		{Path: "$.customers[*]", Action: "redact",
			Where: &transforms.Where{Field: "owner_id", Op: "!=", Value: "u-17"}},
		{Path: "$..notes", Action: "redact"},
		{Path: "$.customers[*].salary", Action: "generalize", Params: map[string]any{"bucket": 10000}},
	}
	p, err := transforms.Compile(rules, transforms.Options{RecordIDs: "$.customers[*].id"})
	if err != nil {
		fmt.Println(err)
		return
	}
	body := []byte(`{"customers":[
 {"id":1,"owner_id":"u-17","ssn":"123-45-6789","email":"ann@example.com","salary":53250,"notes":"vip"},
 {"id":2,"owner_id":"u-3","ssn":"987-65-4321","email":"bob@example.com","salary":41000}]}`)
	var res transforms.Result
	out, err := p.Rewrite(nil, body, &res)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(out))
	fmt.Println(res.RecordIDs, res.Rules[2])
	// Output:
	// {"customers":[
	//  {"id":1,"owner_id":"u-17","ssn":"***-**-6789","email":"***@example.com","salary":"50000-60000"}]}
	// [1] {$.customers[*] redact 1}
}
