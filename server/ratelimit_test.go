package server

import (
	"fmt"
	"testing"
	"time"
)

func TestClientLimits(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newClientLimits(1, 2, 3, time.Minute)
	l.now = func() time.Time { return now }
	allow := func(client string) bool {
		ok, err := l.Allow(client)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	// Each client has its own burst of two.
	for _, c := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"} {
		if !allow(c) || !allow(c) || allow(c) {
			t.Fatalf("%s: want two requests allowed, then a refusal", c)
		}
	}
	// The table is full: newcomers share one bucket, and the table does not grow.
	shared := 0
	for i := range 100 {
		if allow(fmt.Sprintf("192.0.2.%d", i)) {
			shared++
		}
	}
	if shared != 2 || l.len() != 3 {
		t.Fatalf("flood of newcomers: %d allowed (want the shared burst, 2), table %d (want 3)", shared, l.len())
	}
	// Known clients keep their own buckets during the flood.
	now = now.Add(time.Second)
	if !allow("10.0.0.1") {
		t.Fatal("a known client lost its bucket to the flood")
	}
	// Idle clients are forgotten after the expiry, making room again.
	now = now.Add(2 * time.Minute)
	if !allow("198.51.100.7") || l.len() != 1 {
		t.Fatalf("after the expiry: table %d, want 1", l.len())
	}
}

func TestClientKey(t *testing.T) {
	cases := []struct{ in, want string }{
		{"203.0.113.9", "203.0.113.9"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
		{"::ffff:203.0.113.9", "::ffff:203.0.113.9"},
		{"not an address", "not an address"},
	}
	for _, c := range cases {
		if got := clientKey(c.in); got != c.want {
			t.Errorf("clientKey(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
