package server

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// clientLimits keeps a token bucket per client, at most max of them. Echo's
// memory store forgets idle clients only after its expiry, so a flood of
// distinct addresses inside one expiry period would grow it without bound.
// Here, when the table is full, buckets idle for longer than the expiry are
// swept; if none are, newcomers share one overflow bucket, so a flood
// throttles itself and costs no memory, and known clients keep their own.
type clientLimits struct {
	rate   rate.Limit
	burst  int
	expiry time.Duration
	max    int
	now    func() time.Time

	mu        sync.Mutex
	clients   map[string]*clientBucket
	overflow  *rate.Limiter
	lastSweep time.Time
}

type clientBucket struct {
	lim      *rate.Limiter
	lastSeen time.Time
}

func newClientLimits(r rate.Limit, burst, max int, expiry time.Duration) *clientLimits {
	return &clientLimits{
		rate: r, burst: burst, expiry: expiry, max: max, now: time.Now,
		clients:  make(map[string]*clientBucket),
		overflow: rate.NewLimiter(r, burst),
	}
}

// Allow takes a token from the client's bucket; it implements Echo's
// RateLimiterStore.
func (l *clientLimits) Allow(client string) (bool, error) {
	key := clientKey(client)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.lastSweep) > l.expiry {
		l.sweep(now)
	}
	b, ok := l.clients[key]
	if !ok {
		// A full table is swept at most once a second: a flood must not
		// turn every request into a scan.
		if len(l.clients) >= l.max && now.Sub(l.lastSweep) > time.Second {
			l.sweep(now)
		}
		if len(l.clients) >= l.max {
			return l.overflow.AllowN(now, 1), nil
		}
		b = &clientBucket{lim: rate.NewLimiter(l.rate, l.burst)}
		l.clients[key] = b
	}
	b.lastSeen = now
	return b.lim.AllowN(now, 1), nil
}

func (l *clientLimits) sweep(now time.Time) {
	for k, b := range l.clients {
		if now.Sub(b.lastSeen) > l.expiry {
			delete(l.clients, k)
		}
	}
	l.lastSweep = now
}

func (l *clientLimits) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}

// clientKey maps an IPv6 address to its /64: one host commonly holds a
// whole /64, and keying by full address would hand it 2^64 buckets.
func clientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is6() || a.Is4In6() {
		return ip
	}
	p, err := a.Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}
