// Package baselines is the home of the comparator servers the bench harness measures the
// gateway against, each a small main package in its own directory:
//
//	naive      the seed's "before": JSON heartbeats, net.UDPConn.ReadFromUDP one at a time,
//	           encoding/json, a mutex-guarded map
//	gnetudp    gnet v2's stock UDP event loop with the HL1 decoder and MAC check
//	floor      a bare recvmmsg loop that only touches the bytes (the lower bound); flags
//	           -batch 1 and -alloc are the ablation switches (no batching, no pooling)
//	redispeer  presence as one Redis SETEX per heartbeat (pipelined per receive batch)
//	ingestgw   the gateway's own UDP path (gateway/ingest) as a stand-in process
//
// Each serves JSON counters at -stats ADDR/stats so the harness checks that what it sent
// was processed. They are measurement tools: no product code may import them.
package baselines
