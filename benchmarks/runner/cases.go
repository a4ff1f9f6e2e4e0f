package main

// caseDef is one configuration: a server command and the loadgen flags that drive it.
type caseDef struct {
	Name       string
	Group      string // drain | relay | ablation | cpu | rss
	Desc       string
	ServerBin  string
	ServerArgs []string
	Env        []string
	Loadgen    []string
	Redis      bool   // add redis-server's CPU time
	StatsPath  string // path of the counters at {stats} (default /stats; the gateway: /metrics)
}

// Loadgen flag sets.
var (
	drainHello = []string{"-mode", "drain", "-sessions", "4096", "-workers", "1", "-drain-n", "20000", "-drain-rounds", "3", "-interval", "10s"}
	drainNone  = append(append([]string{}, drainHello...), "-handshake", "none")
	drainJSON  = append(append([]string{}, drainNone...), "-proto", "json")
	// Relay: 64 heartbeats per BATCH datagram; 2000 datagrams = 128,000 heartbeats.
	relayNone  = []string{"-mode", "drain", "-sessions", "4096", "-workers", "1", "-drain-n", "2000", "-drain-rounds", "3", "-relay", "64", "-handshake", "none"}
	relayHello = []string{"-mode", "drain", "-sessions", "4096", "-workers", "1", "-drain-n", "2000", "-drain-rounds", "3", "-relay", "64", "-interval", "10s"}
	// Fixed offered load: 50,000 sessions at a 1 s interval = 50,000 heartbeats/s for 5 s.
	// HELLOs at 18k/s: the gateway admits at most ~20k HELLOs/s per loop.
	cpuHello = []string{"-mode", "cpu", "-sessions", "50000", "-interval", "1s", "-duration", "5s", "-workers", "2", "-hello-rate", "18000"}
	cpuNone  = append(append([]string{}, cpuHello...), "-handshake", "none")
	cpuJSON  = append(append([]string{}, cpuNone...), "-proto", "json")
)

var (
	floorArgs = []string{"-listen", "{listen}", "-stats", "{stats}"}
	// The gateway binary: one loop (like every comparator), HELLO limits lifted
	// (one loadgen host is one source address), feed socket with no agent attached.
	// TCP is on (as in production; this build's feed writer also needs the TCP shard).
	gatewayArgs = []string{"-udp-addr", "{listen}", "-tcp-addr", "127.0.0.1:{tcpport}", "-secret-file", "{keys}", "-feed-socket", "{dir}/feed-{port}.sock",
		"-admin-addr", "{stats}", "-hello-rate", "1000000", "-hello-burst", "1000000", "-loops", "1", "-max-sessions", "262144", "-log-level", "warn",
		"-relays", "127.0.0.0/8"} // the relay64 case's loadgen is the relay
	// The ingest stand-in (benchmarks/baselines/ingestgw): -gateway-bin ingestgw.
	ingestgwArgs = []string{"-listen", "{listen}", "-stats", "{stats}", "-keys", "{keys}", "-loops", "1", "-sessions-per-shard", "65536"}
	gnetArgs     = []string{"-listen", "{listen}", "-stats", "{stats}", "-sessions", "50000"}
	naiveArgs    = []string{"-listen", "{listen}", "-stats", "{stats}"}
	redisArgs    = []string{"-listen", "{listen}", "-stats", "{stats}", "-redis", "{redis}", "-sessions", "50000"}
)

func with(a []string, more ...string) []string { return append(append([]string{}, a...), more...) }

func standardCases(gatewayBin string, gwArgs []string, gwStats string) []caseDef {
	cs := []caseDef{
		// Drain: pre-filled socket, CPU per datagram (one heartbeat per datagram).
		{Name: "floor", Group: "drain", Desc: "(d) bare recvmmsg loop, batch 64, touches the bytes", ServerBin: "floor", ServerArgs: floorArgs, Loadgen: drainNone},
		{Name: "gateway", Group: "drain", Desc: "(c) Heartline gateway UDP path: recvmmsg 64, HL1 decode, SipHash, table", ServerBin: gatewayBin, ServerArgs: gwArgs, Loadgen: drainHello},
		{Name: "gnet", Group: "drain", Desc: "(b) gnet v2 stock UDP + the same HL1 decode/MAC/table work", ServerBin: "gnetudp", ServerArgs: gnetArgs, Loadgen: drainNone},
		{Name: "naive", Group: "drain", Desc: "(a) JSON + ReadFromUDP + encoding/json + mutex map (the seed's before)", ServerBin: "naive", ServerArgs: naiveArgs, Loadgen: drainJSON},
		{Name: "redis", Group: "drain", Desc: "(e) HL1 check + one SETEX per heartbeat, pipelined per batch (CPU of peer + redis-server)", ServerBin: "redispeer", ServerArgs: redisArgs, Loadgen: drainNone, Redis: true},
		// Relay: BATCH frames of 64 heartbeats.
		{Name: "gateway-relay64", Group: "relay", Desc: "gateway, BATCH frames of 64 heartbeats", ServerBin: gatewayBin, ServerArgs: gwArgs, Loadgen: relayHello},
		{Name: "gnet-relay64", Group: "relay", Desc: "gnet + HL1, BATCH frames of 64 heartbeats", ServerBin: "gnetudp", ServerArgs: gnetArgs, Loadgen: relayNone},
		// Ablation of the seed's claim, one switch at a time.
		{Name: "floor-batch1", Group: "ablation", Desc: "floor with recvmmsg batch 1 (no syscall batching)", ServerBin: "floor", ServerArgs: with(floorArgs, "-batch", "1"), Loadgen: drainNone},
		{Name: "floor-recvfrom", Group: "ablation", Desc: "floor reading with net.UDPConn one datagram per call", ServerBin: "floor", ServerArgs: with(floorArgs, "-recvfrom"), Loadgen: drainNone},
		{Name: "floor-alloc", Group: "ablation", Desc: "floor allocating a 2 KiB buffer per datagram (no pooling)", ServerBin: "floor", ServerArgs: with(floorArgs, "-alloc"), Loadgen: drainNone},
		{Name: "floor-recvfrom-alloc", Group: "ablation", Desc: "no batching and no pooling together", ServerBin: "floor", ServerArgs: with(floorArgs, "-recvfrom", "-alloc"), Loadgen: drainNone},
		{Name: "floor-recvfrom-alloc-gogc400", Group: "ablation", Desc: "no batching, no pooling, GOGC=400", ServerBin: "floor", ServerArgs: with(floorArgs, "-recvfrom", "-alloc"), Env: []string{"GOGC=400"}, Loadgen: drainNone},
		{Name: "gateway-batch1", Group: "ablation", Desc: "gateway with recvmmsg batch 1", ServerBin: gatewayBin, ServerArgs: with(gwArgs, "-batch", "1"), Loadgen: drainHello},
		{Name: "gateway-gogcoff", Group: "ablation", Desc: "gateway with GOGC=off (it allocates nothing per heartbeat: expect no change)", ServerBin: gatewayBin, ServerArgs: gwArgs, Env: []string{"GOGC=off"}, Loadgen: drainHello},
		{Name: "naive-gogc400", Group: "ablation", Desc: "naive with GOGC=400", ServerBin: "naive", ServerArgs: naiveArgs, Env: []string{"GOGC=400"}, Loadgen: drainJSON},
		{Name: "naive-gogcoff", Group: "ablation", Desc: "naive with GOGC=off (bounded run)", ServerBin: "naive", ServerArgs: naiveArgs, Env: []string{"GOGC=off"}, Loadgen: drainJSON},
		{Name: "naive-memlimit", Group: "ablation", Desc: "naive with GOMEMLIMIT=256MiB (GOGC default)", ServerBin: "naive", ServerArgs: naiveArgs, Env: []string{"GOMEMLIMIT=256MiB"}, Loadgen: drainJSON},
		{Name: "naive-gogcoff-memlimit", Group: "ablation", Desc: "naive with GOGC=off GOMEMLIMIT=256MiB (together)", ServerBin: "naive", ServerArgs: naiveArgs, Env: []string{"GOGC=off", "GOMEMLIMIT=256MiB"}, Loadgen: drainJSON},
		// Fixed offered load: CPU per heartbeat at 50k heartbeats/s.
		{Name: "cpu-floor", Group: "cpu", Desc: "floor at 50k/s", ServerBin: "floor", ServerArgs: floorArgs, Loadgen: cpuNone},
		{Name: "cpu-gateway", Group: "cpu", Desc: "gateway at 50k/s", ServerBin: gatewayBin, ServerArgs: gwArgs, Loadgen: cpuHello},
		{Name: "cpu-gnet", Group: "cpu", Desc: "gnet + HL1 at 50k/s", ServerBin: "gnetudp", ServerArgs: gnetArgs, Loadgen: cpuNone},
		{Name: "cpu-naive", Group: "cpu", Desc: "naive at 50k/s", ServerBin: "naive", ServerArgs: naiveArgs, Loadgen: cpuJSON},
		{Name: "cpu-redis", Group: "cpu", Desc: "redis SETEX peer at 50k/s (peer + redis-server CPU)", ServerBin: "redispeer", ServerArgs: redisArgs, Loadgen: cpuNone, Redis: true},
	}
	for i := range cs {
		if cs[i].ServerBin == gatewayBin {
			cs[i].StatsPath = gwStats
		}
	}
	return cs
}

// ratioDef is num/den; Target says what the issue asks for.
type ratioDef struct{ Name, Num, Den, Target string }

var standardRatios = []ratioDef{
	{"naive / gateway (drain, CPU per heartbeat)", "naive", "gateway", ">= 3.3x"},
	{"gateway / floor (drain)", "gateway", "floor", "<= 1.25x"},
	{"gnet / gateway (drain)", "gnet", "gateway", ""},
	{"redis / gateway (drain)", "redis", "gateway", ">= 2x"},
	{"naive / gateway with BATCH 64 (per heartbeat)", "naive", "gateway-relay64", ">= 10x"},
	{"naive / gnet with BATCH 64 (per heartbeat)", "naive", "gnet-relay64", ""},
	{"naive / floor (drain)", "naive", "floor", ""},
	{"naive / gateway (50k/s)", "cpu-naive", "cpu-gateway", ">= 3.3x"},
	{"gateway / floor (50k/s)", "cpu-gateway", "cpu-floor", "<= 1.25x"},
	{"gnet / gateway (50k/s)", "cpu-gnet", "cpu-gateway", ""},
	{"redis / gateway (50k/s)", "cpu-redis", "cpu-gateway", ">= 2x"},
	// Ablation factors: how much each switch costs when turned off.
	{"ablation: recvmmsg batching (floor batch 1 / batch 64)", "floor-batch1", "floor", ""},
	{"ablation: batching in the gateway (batch 1 / 64)", "gateway-batch1", "gateway", ""},
	{"ablation: netpoller read per datagram (recvfrom / recvmmsg 64)", "floor-recvfrom", "floor", ""},
	{"ablation: buffer pooling (alloc per datagram / pooled)", "floor-alloc", "floor", ""},
	{"ablation: no batching + no pooling (together)", "floor-recvfrom-alloc", "floor", ""},
	{"ablation: GC tuning on the unpooled path (GOGC=100 / 400)", "floor-recvfrom-alloc", "floor-recvfrom-alloc-gogc400", ""},
	{"ablation: GC on naive (GOGC=100 / 400)", "naive", "naive-gogc400", ""},
	{"ablation: GC on naive (GOGC=100 / off)", "naive", "naive-gogcoff", ""},
	{"ablation: GC on naive (default / GOMEMLIMIT=256MiB)", "naive", "naive-memlimit", ""},
	{"ablation: GC on naive (default / GOGC=off+GOMEMLIMIT)", "naive", "naive-gogcoff-memlimit", ""},
	{"ablation: GC on the gateway (GOGC=100 / off)", "gateway", "gateway-gogcoff", ""},
}
