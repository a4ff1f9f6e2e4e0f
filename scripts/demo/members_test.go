package main

import "testing"

// The site must seed a member for every user the probes and the load generator heartbeat
// as, so the online count never exceeds the member count.
func TestDemoMembersCoverEveryDrivenUser(t *testing.T) {
	for _, c := range []struct {
		o    options
		want int
	}{
		{options{members: 200, probes: 12, probeBase: 100001, load: 100_000, loadBase: 100101}, 100_100}, // users 100001…200100
		{options{members: 200, probes: 12, probeBase: 100001, load: 0, loadBase: 100101}, 200},
		{options{members: 5, probes: 12, probeBase: 100001}, 12},
		{options{members: 200, load: 2_000_000, loadBase: 100001}, 1_000_000}, // capped at the generator's maximum
	} {
		if got := demoMembers(c.o); got != c.want {
			t.Errorf("%+v: %d members, want %d", c.o, got, c.want)
		}
	}
}
