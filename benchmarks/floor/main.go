// Command bench-floor is the fasthttp-floor contender of the benchmark
// harness: the smallest possible fasthttp forwarding handler (one
// HostClient.Do per request), i.e. Veil's own stack with nothing added. Its
// throughput is the ceiling Veil's policy and rewriting costs are measured
// against.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	_ "net/http/pprof" // served only with -pprof
	"os"

	"github.com/valyala/fasthttp"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "client listener (loopback)")
	upstream := flag.String("upstream", "127.0.0.1:7001", "upstream host:port")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this loopback address (the harness's -profile); off when empty")
	flag.Parse()
	if *pprofAddr != "" {
		// The profiler has its own listener and goroutines: the forwarding
		// path is the same with it on.
		pln, err := net.Listen("tcp4", *pprofAddr)
		if err != nil {
			log.Fatalf("bench-floor: pprof listen: %v", err)
		}
		go func() { log.Print(http.Serve(pln, nil)) }()
	}

	client := &fasthttp.HostClient{
		Addr: *upstream,
		// As many keep-alive connections as the load needs, like Veil's pool.
		MaxConns: 512,
	}
	handler := func(ctx *fasthttp.RequestCtx) {
		req := &ctx.Request
		// HostClient sends to Addr whatever the Host header says.
		req.SetHost(*upstream)
		if err := client.Do(req, &ctx.Response); err != nil {
			ctx.Error("upstream: "+err.Error(), fasthttp.StatusBadGateway)
		}
	}
	ln, err := net.Listen("tcp4", *listen)
	if err != nil {
		log.Fatalf("bench-floor: listen: %v", err)
	}
	// The harness reads the bound address from the first line of stdout.
	fmt.Fprintln(os.Stdout, ln.Addr().String())
	srv := &fasthttp.Server{Handler: handler, Name: "bench-floor"}
	if err := srv.Serve(ln); err != nil {
		log.Fatalf("bench-floor: serve: %v", err)
	}
}
