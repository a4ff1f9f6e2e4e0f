package conformance

import "testing"

// offWireRows are the error table's rows the suite cannot bring about from the wire alone;
// each is listed as a skipped subtest, so a run shows what it did not check.
var offWireRows = []struct{ row, why string }{
	{"HELLO while the gateway drains: REHELLO 4", "draining starts by signal or the admin port, not by a frame"},
	{"HELLO while the agent cannot reach Consul: REHELLO 5", "cut off is the agent's word over the feed"},
	{"HEARTBEAT while the gateway drains: REHELLO 4 at the drain's pace", "draining starts by signal or the admin port"},
	{"lost to a full queue (inbox_full): drop", "needs a gateway overloaded beyond what a test can cause reliably"},
}

// offWireTCPRows are the TCP-only rows of that kind.
var offWireTCPRows = []struct{ row, why string }{
	{"more than 16 frames of one connection waiting: CLOSE 1", "whether frames wait depends on the gateway's worker speed, not on the wire"},
	{"SUBSCRIBE over the limit: CLOSE 4", "needs a gateway with a presence source (Consul)"},
	{"GRANT not opened, another member's, expired: CLOSE 7", "needs a presence source and a site-sealed grant"},
}

func skipOffWire(t *testing.T, rows []struct{ row, why string }) {
	for _, r := range rows {
		t.Run(r.row, func(t *testing.T) { t.Skip("not checked from the wire: " + r.why) })
	}
}
