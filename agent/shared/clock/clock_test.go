package clock

import (
	"testing"
	"time"
)

func TestFakeFiresInOrderOnlyWhenAdvanced(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	a, b := f.After(2*time.Second), f.After(time.Second)
	if n := f.Advance(999 * time.Millisecond); n != 0 {
		t.Fatalf("%d timers fired at 999ms, want 0", n)
	}
	select {
	case <-a:
		t.Fatal("fired early")
	case <-b:
		t.Fatal("fired early")
	default:
	}
	if n := f.Advance(time.Millisecond); n != 1 {
		t.Fatalf("%d timers fired at 1s, want 1", n)
	}
	select {
	case <-b:
	default:
		t.Fatal("1s timer did not fire at 1s")
	}
	if f.Waiters() != 1 {
		t.Fatalf("%d waiters, want 1", f.Waiters())
	}
}

func TestBackoffGrowsCapsAndResets(t *testing.T) {
	b := Backoff{Min: 10 * time.Millisecond, Max: 80 * time.Millisecond}
	for n := 0; n < 10; n++ {
		ceil := min(10*time.Millisecond<<n, 80*time.Millisecond)
		if d := b.Next(); d <= 0 || d > ceil {
			t.Fatalf("attempt %d waited %s, want (0, %s]", n, d, ceil)
		}
	}
	b.Reset()
	for i := 0; i < 100; i++ {
		b.Reset()
		if d := b.Next(); d > 10*time.Millisecond {
			t.Fatalf("after reset waited %s, want <= 10ms", d)
		}
	}
}
