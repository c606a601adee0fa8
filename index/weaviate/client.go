package weaviate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Scheme is the URL scheme of a cluster: weaviate://host:port[,host:port…].
const Scheme = "weaviate://"

// IsURL reports whether s names a Weaviate cluster.
func IsURL(s string) bool { return strings.HasPrefix(s, Scheme) }

// ParseURL returns the nodes a cluster URL names.
func ParseURL(s string) ([]string, error) {
	rest, ok := strings.CutPrefix(s, Scheme)
	if !ok {
		return nil, fmt.Errorf("%w: %q does not begin with %s", ErrBadURL, s, Scheme)
	}
	rest = strings.TrimSuffix(rest, "/")
	if rest == "" {
		return nil, fmt.Errorf("%w: %q names no node", ErrBadURL, s)
	}
	var hosts []string
	for _, h := range strings.Split(rest, ",") {
		host, port, err := net.SplitHostPort(h)
		if err != nil || host == "" || port == "" {
			return nil, fmt.Errorf("%w: node %q is not host:port", ErrBadURL, h)
		}
		hosts = append(hosts, h)
	}
	return hosts, nil
}

// attemptTimeout bounds one node's answer: a node that hangs (paused,
// or cut off without a reset) is passed over like one that refuses.
const attemptTimeout = 10 * time.Second

// Client talks to the nodes of one Weaviate cluster. It is safe for
// concurrent use.
type Client struct {
	hosts []string
	http  *http.Client
	next  atomic.Uint32 // the node the next request tries first
	// shunned holds, for each node, the time (Unix ns) until which it is
	// tried last: it failed, or kept a read waiting past hedgeDelay.
	shunned []atomic.Int64
	hedges  hedgeBudget
	// weakUntil is the time (Unix ns) until which reads ask at a weaker
	// consistency level, 0 when they ask at the strong one (see read).
	weakUntil atomic.Int64
}

// Open returns a client of the cluster url names; it does no I/O (Ping
// does).
func Open(url string) (*Client, error) {
	hosts, err := ParseURL(url)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	// A node that is down must not hold a request for long: the next
	// node is tried.
	tr.DialContext = (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	c := &Client{hosts: hosts, http: &http.Client{Transport: tr}, shunned: make([]atomic.Int64, len(hosts))}
	c.hedges.tokens = hedgeBurst
	return c, nil
}

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// apiError is Weaviate's error body.
type apiError struct {
	Error []struct {
		Message string `json:"message"`
	} `json:"error"`
}

// do sends one request, trying the nodes in turn, from a different one
// each call, until one answers: a node that cannot be reached or answers
// 5xx is passed over. out, when not nil, receives the JSON answer. A 404
// is a *statusError (isNotFound). A GET is hedged (see call).
func (c *Client) do(ctx context.Context, method, path string, body any, out any) error {
	return c.try(ctx, call{method: method, path: path, body: body, hedged: method == http.MethodGet}, func(data []byte) (bool, error) {
		if out != nil && len(data) > 0 {
			if err := json.Unmarshal(data, out); err != nil {
				return false, fmt.Errorf("weaviate: %s %s: %w", method, path, err)
			}
		}
		return false, nil
	})
}

// hedgeDelay is how long a read waits for a node before it is also sent
// to the next. A node can stall for seconds (stopped, a long collection,
// a flush) while the others answer in milliseconds; a search is answered
// by the node it reaches, so without a second try the stall is the
// engine's.
const hedgeDelay = 300 * time.Millisecond

// weakDelay is how long a read with a weaker form waits before sending
// it (see call.weakBody): longer than the slowest answers of a busy
// cluster, so that it answers only for a stall.
const weakDelay = time.Second

// shunFor is how long a node that failed or stalled is tried last.
const shunFor = 5 * time.Second

// hedgeShare and hedgeBurst bound hedging: a tenth of reads, and ten in a
// burst. A cluster slow because it is saturated is not helped by more
// reads; one slow node is, and is shunned after its first few.
const (
	hedgeShare = 0.1
	hedgeBurst = 10
)

// hedgeBudget is a token bucket filled by reads and spent by hedges.
type hedgeBudget struct {
	mu     sync.Mutex
	tokens float64
}

func (b *hedgeBudget) earn() {
	b.mu.Lock()
	b.tokens = min(b.tokens+hedgeShare, hedgeBurst)
	b.mu.Unlock()
}

func (b *hedgeBudget) spend() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// call is one request to the cluster.
type call struct {
	method, path string
	body         any // sent as JSON when not nil
	// hedged marks a read, which may run twice: it is also sent to the
	// next node when a node has not answered within hedgeDelay (as the
	// budget allows), and the first acceptable answer wins. A write goes
	// to one node at a time, so that an old write cannot land after a
	// newer one.
	hedged bool
	// weakBody, when not nil, is the same read at a weaker consistency
	// level, sent to two nodes once the read has waited weakDelay
	// (budget or not): a read that waits that long waits on a stalled
	// replica, which the weaker level does not ask, and one of the two
	// may be the stalled node itself. taken, when not nil, is told
	// whether the answer taken was a weak one.
	weakBody any
	taken    func(weak bool)
}

// attempt is one node's answer to a request.
type attempt struct {
	node   int
	weak   bool // sent with the call's weakBody
	status int
	data   []byte
	err    error
}

// order is the nodes in the order a request tries them: in turn from a
// different one each call, the shunned last.
func (c *Client) order() []int {
	first := int(c.next.Add(1)) % len(c.hosts)
	now := time.Now().UnixNano()
	nodes := make([]int, 0, len(c.hosts))
	for pass := range 2 {
		for i := range c.hosts {
			n := (first + i) % len(c.hosts)
			if shunned := c.shunned[n].Load() > now; shunned == (pass == 1) {
				nodes = append(nodes, n)
			}
		}
	}
	return nodes
}

func (c *Client) shun(node int) { c.shunned[node].Store(time.Now().Add(shunFor).UnixNano()) }

// try sends a call to the nodes in turn until one answers, and hands a
// 2xx answer's body to accept, which may ask for the next node (true)
// with the error to report if none does better.
func (c *Client) try(ctx context.Context, r call, accept func([]byte) (next bool, err error)) error {
	payload, err := marshal(r.body)
	if err != nil {
		return err
	}
	var weakPayload []byte
	if r.weakBody != nil {
		if weakPayload, err = marshal(r.weakBody); err != nil {
			return err
		}
	}
	if r.hedged {
		c.hedges.earn()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // the attempts still running
	nodes := c.order()
	answers := make(chan attempt, len(nodes)+2) // and the weak ones
	launched := 0                               // nodes asked in order, with the call's body
	pending := 0                                // attempts not answered
	failed := make([]bool, len(c.hosts))
	askedWeak := make([]bool, len(c.hosts))
	var hedge, weakHedge <-chan time.Time
	if weakPayload != nil {
		weakHedge = time.After(weakDelay)
	}
	launch := func(weak bool) {
		var node int
		if weak {
			// The next node not failed nor asked the weak form yet,
			// asked the strong form or not: what stalls a strong
			// read there may be a replica elsewhere.
			node = -1
			for _, n := range nodes {
				if !failed[n] && !askedWeak[n] {
					node = n
					break
				}
			}
			if node < 0 {
				return
			}
			askedWeak[node] = true
		} else {
			node = nodes[launched]
			launched++
			if r.hedged {
				hedge = time.After(hedgeDelay)
			}
		}
		pending++
		body := payload
		if weak {
			body = weakPayload
		}
		go func() {
			actx, cancel := context.WithTimeout(ctx, attemptTimeout)
			defer cancel()
			status, data, err := c.send(actx, r.method, "http://"+c.hosts[node]+r.path, body)
			answers <- attempt{node, weak, status, data, err}
		}()
	}
	launch(false)
	var errs []error
	for pending > 0 {
		var a attempt
		select {
		case a = <-answers:
		case <-hedge:
			hedge = nil
			c.shun(nodes[launched-1])
			// Reads already known to wait on a stalled replica are
			// not counted: the budget is for a saturated cluster.
			if launched < len(nodes) && (c.weakUntil.Load() != 0 || c.hedges.spend()) {
				launch(false)
			}
			continue
		case <-weakHedge:
			// Two nodes: one of them may be the stalled one.
			weakHedge = nil
			launch(true)
			launch(true)
			continue
		}
		pending--
		next, err := judge(r, c.hosts[a.node], a, accept)
		if !next {
			if err == nil && r.taken != nil {
				r.taken(a.weak)
			}
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.shun(a.node)
		failed[a.node] = true
		errs = append(errs, err)
		if pending == 0 && launched < len(nodes) {
			launch(false)
		}
	}
	return fmt.Errorf("%w: %s %s: %w", ErrUnavailable, r.method, r.path, errors.Join(errs...))
}

func marshal(body any) ([]byte, error) {
	if body == nil {
		return nil, nil
	}
	return json.Marshal(body)
}

// judge reads one node's answer: whether to try another node (true, with
// the error to report if none does better) or to end the request with
// err.
func judge(r call, host string, a attempt, accept func([]byte) (bool, error)) (next bool, err error) {
	switch {
	case a.err != nil:
		return true, fmt.Errorf("%s: %w", host, a.err)
	case a.status >= 500 || notReady(a.status, a.data):
		return true, fmt.Errorf("%s: %d %s", host, a.status, message(a.data))
	case a.status == http.StatusNotFound:
		return false, &statusError{status: a.status, msg: message(a.data)}
	case a.status >= 400:
		return false, fmt.Errorf("%w: %s %s: %d %s", ErrRejected, r.method, r.path, a.status, message(a.data))
	}
	if next, err = accept(a.data); next {
		err = fmt.Errorf("%s: %w", host, err)
	}
	return next, err
}

func (c *Client) send(ctx context.Context, method, url string, payload []byte) (int, []byte, error) {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return 0, nil, err
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, data, nil
}

// notReady reports an answer of a node that is starting: listening, its
// schema not yet loaded.
func notReady(status int, data []byte) bool {
	return status == http.StatusUnprocessableEntity && bytes.Contains(data, []byte("no graphql provider present"))
}

// statusError is a 404 answer.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return fmt.Sprintf("weaviate: %d %s", e.status, e.msg) }

func isNotFound(err error) bool {
	var se *statusError
	return errors.As(err, &se) && se.status == http.StatusNotFound
}

// message is the readable part of an error answer.
func message(data []byte) string {
	var e apiError
	if json.Unmarshal(data, &e) == nil && len(e.Error) > 0 {
		var msgs []string
		for _, m := range e.Error {
			msgs = append(msgs, m.Message)
		}
		return strings.Join(msgs, "; ")
	}
	s := strings.TrimSpace(string(data))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// Ping checks that the cluster answers and every node it lists is
// healthy.
func (c *Client) Ping(ctx context.Context) error {
	var nodes struct {
		Nodes []struct {
			Name   string `json:"name"`
			Status string `json:"status"`
		} `json:"nodes"`
	}
	if err := c.do(ctx, http.MethodGet, "/v1/nodes", nil, &nodes); err != nil {
		return err
	}
	for _, n := range nodes.Nodes {
		if n.Status != "HEALTHY" {
			return fmt.Errorf("%w: node %s is %s", ErrUnavailable, n.Name, n.Status)
		}
	}
	return nil
}

// graphQL runs a GraphQL query and decodes its data into out. A node
// that answers with errors is passed over for the next: a query is
// idempotent, and a node starting up, or cut off from the replicas of a
// shard, answers so. The query is hedged (see call).
func (c *Client) graphQL(ctx context.Context, query string, out any) error {
	return c.run(ctx, call{method: http.MethodPost, path: "/v1/graphql", body: map[string]string{"query": query}, hedged: true}, out)
}

// weakFor is how long reads ask at the weaker level once a hedge at it
// answered first: a replica has stalled, and QUORUM reads wait on it.
const weakFor = 5 * time.Second

// read is a GraphQL query of a collection's objects, strong and weak
// being the same query at QUORUM and at ONE. It asks strong, with weak as
// the call's weak form (see call.weakBody). A replica that stalls holds
// up QUORUM reads from every node, and ONE, answered from the asked
// node's own replicas, is then the only read that answers, perhaps with
// an object's previous version: once the weak form answers first, reads
// ask weak for weakFor, then one read asks strong again while the others
// stay weak, and a strong answer to it ends the weak spell.
func (c *Client) read(ctx context.Context, strong, weak string, out any) error {
	if strong == weak {
		// A collection without replicas has no weaker level; a slow
		// read of it must not start a weak spell, which would lift the
		// hedge budget.
		return c.graphQL(ctx, strong, out)
	}
	r := call{method: http.MethodPost, path: "/v1/graphql", hedged: true, body: map[string]string{"query": weak}}
	now := time.Now()
	until := c.weakUntil.Load()
	if until == 0 || now.UnixNano() >= until && c.weakUntil.CompareAndSwap(until, now.Add(weakFor).UnixNano()) {
		probe := until != 0
		r.body, r.weakBody = map[string]string{"query": strong}, r.body
		r.taken = func(weakAnswer bool) {
			switch {
			case weakAnswer:
				c.weakUntil.Store(time.Now().Add(weakFor).UnixNano())
			case probe:
				c.weakUntil.Store(0)
			}
		}
	}
	return c.run(ctx, r, out)
}

// run sends a GraphQL call and decodes its answer's data into out.
func (c *Client) run(ctx context.Context, r call, out any) error {
	return c.try(ctx, r, func(data []byte) (bool, error) {
		var resp struct {
			Data   json.RawMessage `json:"data"`
			Errors []struct {
				Message string `json:"message"`
			} `json:"errors"`
		}
		if err := json.Unmarshal(data, &resp); err != nil {
			return false, fmt.Errorf("weaviate: graphql: %w", err)
		}
		if len(resp.Errors) > 0 {
			var msgs []string
			for _, e := range resp.Errors {
				msgs = append(msgs, e.Message)
			}
			return true, fmt.Errorf("graphql: %s", strings.Join(msgs, "; "))
		}
		return false, json.Unmarshal(resp.Data, out)
	})
}
