package main

import (
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
)

// countingProxy forwards the agent's Consul HTTP traffic and counts transactions and bytes.
type countingProxy struct {
	rp        *httputil.ReverseProxy
	Txns      atomic.Uint64 // PUT /v1/txn requests
	TxnReq    atomic.Uint64 // request body bytes of those
	TxnResp   atomic.Uint64 // response body bytes of those
	Requests  atomic.Uint64 // every request
	ReqBytes  atomic.Uint64 // every request body
	RespBytes atomic.Uint64 // every response body
}

func newCountingProxy(target string) *countingProxy {
	u, _ := url.Parse("http://" + target)
	p := &countingProxy{rp: httputil.NewSingleHostReverseProxy(u)}
	p.rp.FlushInterval = -1
	p.rp.ModifyResponse = func(r *http.Response) error {
		txn := r.Request.Method == http.MethodPut && r.Request.URL.Path == "/v1/txn"
		r.Body = &countingBody{ReadCloser: r.Body, n: &p.RespBytes, txn: txn, txnN: &p.TxnResp}
		return nil
	}
	return p
}

func (p *countingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.Requests.Add(1)
	txn := r.Method == http.MethodPut && r.URL.Path == "/v1/txn"
	if txn {
		p.Txns.Add(1)
	}
	if r.Body != nil {
		r.Body = &countingBody{ReadCloser: r.Body, n: &p.ReqBytes, txn: txn, txnN: &p.TxnReq}
	}
	p.rp.ServeHTTP(w, r)
}

type countingBody struct {
	io.ReadCloser
	n    *atomic.Uint64
	txn  bool
	txnN *atomic.Uint64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(uint64(n))
	if b.txn {
		b.txnN.Add(uint64(n))
	}
	return n, err
}
