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
	return &Client{hosts: hosts, http: &http.Client{Transport: tr}}, nil
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
// is a *statusError (isNotFound).
func (c *Client) do(ctx context.Context, method, path string, body any, out any) error {
	return c.try(ctx, method, path, body, func(data []byte) (bool, error) {
		if out != nil && len(data) > 0 {
			if err := json.Unmarshal(data, out); err != nil {
				return false, fmt.Errorf("weaviate: %s %s: %w", method, path, err)
			}
		}
		return false, nil
	})
}

// try sends a request to the nodes in turn until one answers, and hands
// a 2xx answer's body to accept, which may ask for the next node (true)
// with the error to report if none does better.
func (c *Client) try(ctx context.Context, method, path string, body any, accept func([]byte) (next bool, err error)) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return err
		}
	}
	first := int(c.next.Add(1)) % len(c.hosts)
	var errs []error
	for i := range c.hosts {
		host := c.hosts[(first+i)%len(c.hosts)]
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		status, data, err := c.send(actx, method, "http://"+host+path, payload)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			errs = append(errs, fmt.Errorf("%s: %w", host, err))
			continue
		}
		if status >= 500 || notReady(status, data) {
			errs = append(errs, fmt.Errorf("%s: %d %s", host, status, message(data)))
			continue
		}
		if status == http.StatusNotFound {
			return &statusError{status: status, msg: message(data)}
		}
		if status >= 400 {
			return fmt.Errorf("%w: %s %s: %d %s", ErrRejected, method, path, status, message(data))
		}
		next, err := accept(data)
		if !next {
			return err
		}
		errs = append(errs, fmt.Errorf("%s: %w", host, err))
	}
	return fmt.Errorf("%w: %s %s: %w", ErrUnavailable, method, path, errors.Join(errs...))
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
// shard, answers so.
func (c *Client) graphQL(ctx context.Context, query string, out any) error {
	return c.try(ctx, http.MethodPost, "/v1/graphql", map[string]string{"query": query}, func(data []byte) (bool, error) {
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
