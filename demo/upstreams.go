package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// shutdownTimeout bounds Close: connections still busy after it are cut.
const shutdownTimeout = 5 * time.Second

// Upstreams are a running CRM and HRM, each on its own listener.
type Upstreams struct {
	// CRM is the data behind CRMAddr.
	CRM *CRM
	// HRM is the data behind HRMAddr.
	HRM *HRM

	crmLn, hrmLn   net.Listener
	crmSrv, hrmSrv *fasthttp.Server
	wg             sync.WaitGroup
	closeOnce      sync.Once
	closeErr       error
}

// StartUpstreams serves NewCRM(DefaultSeed, DefaultCustomers) on crmAddr
// and NewHRM(DefaultSeed, DefaultEmployees) on hrmAddr ("127.0.0.1:0"
// picks a free port; use loopback addresses: the data has no access
// control). Call Close to stop both.
func StartUpstreams(crmAddr, hrmAddr string) (*Upstreams, error) {
	u := &Upstreams{
		CRM: NewCRM(DefaultSeed, DefaultCustomers),
		HRM: NewHRM(DefaultSeed, DefaultEmployees),
	}
	var err error
	if u.crmLn, err = net.Listen("tcp", crmAddr); err != nil {
		return nil, fmt.Errorf("demo: CRM listener: %w", err)
	}
	if u.hrmLn, err = net.Listen("tcp", hrmAddr); err != nil {
		u.crmLn.Close()
		return nil, fmt.Errorf("demo: HRM listener: %w", err)
	}
	u.crmSrv = newServer("veil-demo-crm", u.CRM.Handler())
	u.hrmSrv = newServer("veil-demo-hrm", u.HRM.Handler())
	u.serve(u.crmSrv, u.crmLn)
	u.serve(u.hrmSrv, u.hrmLn)
	return u, nil
}

func newServer(name string, h fasthttp.RequestHandler) *fasthttp.Server {
	return &fasthttp.Server{
		Handler:            h,
		Name:               name,
		ReadTimeout:        10 * time.Second,
		WriteTimeout:       10 * time.Second,
		IdleTimeout:        30 * time.Second,
		MaxRequestBodySize: 1 << 20,
		CloseOnShutdown:    true,
	}
}

func (u *Upstreams) serve(s *fasthttp.Server, ln net.Listener) {
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		_ = s.Serve(ln) // returns when Close shuts the server down
	}()
}

// CRMAddr is the CRM's listening address, e.g. "127.0.0.1:41234".
func (u *Upstreams) CRMAddr() string { return u.crmLn.Addr().String() }

// HRMAddr is the HRM's listening address.
func (u *Upstreams) HRMAddr() string { return u.hrmLn.Addr().String() }

// Close stops both servers: listeners close at once, open connections are
// closed when idle or after a few seconds. It is safe to call more than
// once.
func (u *Upstreams) Close() error {
	u.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		u.closeErr = errors.Join(
			u.crmSrv.ShutdownWithContext(ctx),
			u.hrmSrv.ShutdownWithContext(ctx),
		)
		u.wg.Wait()
		if u.closeErr != nil {
			u.closeErr = fmt.Errorf("demo: shutting down: %w", u.closeErr)
		}
	})
	return u.closeErr
}
