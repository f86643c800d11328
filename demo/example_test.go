package demo_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/veilgw/veil/demo"
)

// Start both sample APIs on random loopback ports and read one page.
func ExampleStartUpstreams() {
	up, err := demo.StartUpstreams("127.0.0.1:0", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer up.Close()

	resp, err := http.Get("http://" + up.CRMAddr() + "/customers?limit=2&owner_id=u-17")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var page struct {
		Customers []demo.Customer `json:"customers"`
		Total     int             `json:"total"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		panic(err)
	}
	fmt.Println(resp.Header.Get("Content-Type"), page.Total, page.Customers[0].ID, page.Customers[1].ID)
	// Output: application/json 60 c-0001 c-0006
}
