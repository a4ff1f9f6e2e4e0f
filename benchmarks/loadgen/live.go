package main

import (
	"fmt"
	"io"
	"time"
)

// live prints one status line per second: rates since the last line and totals.
type live struct {
	out      io.Writer
	ws       []*worker
	start    time.Time
	last     Totals
	lastTime time.Time
}

func (l *live) line(now time.Time) string {
	t := totals(l.ws)
	dt := now.Sub(l.lastTime).Seconds()
	if dt <= 0 {
		dt = 1
	}
	s := fmt.Sprintf("t=%4.0fs sent/s=%8.0f hb/s=%8.0f online=%d welcomed=%d hello/s=%6.0f retries=%d rehello=%d bye=%d lost=%d errors=%d",
		now.Sub(l.start).Seconds(), float64(t.Datagrams-l.last.Datagrams)/dt, float64(t.Heartbeats-l.last.Heartbeats)/dt,
		online(l.ws), t.Welcomed, float64(t.Hellos+t.HelloRetries-l.last.Hellos-l.last.HelloRetries)/dt,
		t.HelloRetries, t.Rehellos, t.Byes, t.Lost, t.Errors)
	l.last, l.lastTime = t, now
	return s
}

func (l *live) run(stop <-chan struct{}) {
	tk := time.NewTicker(time.Second)
	defer tk.Stop()
	for {
		select {
		case <-stop:
			fmt.Fprintln(l.out)
			return
		case now := <-tk.C:
			fmt.Fprintf(l.out, "\r%s\x1b[K", l.line(now))
		}
	}
}
