// Package wiring is the one way a Heartline process (gateway, agent, site) is wired at start:
//
//	env.go     every flag has an environment equivalent HEARTLINE_<FLAG> (upper case, '-' as
//	           '_'); a variable that is set (even to "") applies, a flag on the command line wins
//	logger.go  zap's production JSON logger at the level of -log-level; a level that is not
//	           debug, info, warn or error is an error, in every process
//	consul.go  the Consul client from consul/api's own configuration (CONSUL_HTTP_ADDR,
//	           CONSUL_HTTP_TOKEN, CONSUL_CACERT, CONSUL_HTTP_SSL, … and the unix://, http://
//	           and https:// address forms, all parsed by consul/api), with -consul-addr and
//	           -consul-token laid over it unparsed
//
// See agent/shared/doc.go for why it lives here. It owns start-up mechanics only: no
// process's flags, defaults or behaviour.
package wiring
