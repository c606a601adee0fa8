// Package clicksim plays a generated catalogue's users against a Duet
// server over HTTP, for closed-loop tests: each takes a list and clicks
// by their hidden taste (content.GenTastes), which the server's model
// never sees, with the attention a list's lower positions get falling as
// 1/(1 + position). Clicks name the impression that showed them.
package clicksim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"

	"github.com/duetrec/duet/content"
)

// Simulator is a population of simulated users.
type Simulator struct {
	Base        string // the server's URL
	EventsToken string
	Users       []string
	Tastes      *content.GenTastes
	// Drift is how far users' interests have moved from their early to
	// their late tastes (content.GenTastes.Appeal).
	Drift  float64
	Rand   *rand.Rand
	Client *http.Client // default http.DefaultClient
}

// Session shows one random user their recommendations (k of them) and
// posts their clicks; it returns how many items were shown and clicked.
func (s *Simulator) Session(ctx context.Context, k int) (shown, clicked int, err error) {
	user := s.Users[s.Rand.IntN(len(s.Users))]
	return s.show(ctx, user, fmt.Sprintf("/v1/users/%s/recommendations?k=%d", url.PathEscape(user), k))
}

// Search has one random user search for what they are interested in
// (content.GenTastes.Query, as the user: the answer is personalised) and
// click among the k hits by their taste, as Session does.
func (s *Simulator) Search(ctx context.Context, k int) (shown, clicked int, err error) {
	user := s.Users[s.Rand.IntN(len(s.Users))]
	q := url.Values{"q": {s.Tastes.Query(user, s.Drift, s.Rand)}, "user": {user}, "k": {strconv.Itoa(k)}}
	return s.show(ctx, user, "/v1/search?"+q.Encode())
}

// show asks path for a list shown to user and posts the clicks it draws.
func (s *Simulator) show(ctx context.Context, user, path string) (shown, clicked int, err error) {
	var ans struct {
		Hits []struct {
			ID string `json:"id"`
		} `json:"hits"`
		ImpressionID string `json:"impression_id"`
	}
	if err := s.call(ctx, "GET", path, "", nil, &ans); err != nil {
		return 0, 0, err
	}
	var evs []map[string]any
	for p, h := range ans.Hits {
		if s.Rand.Float64() < s.Tastes.Appeal(user, h.ID, s.Drift)/float64(1+p) {
			evs = append(evs, map[string]any{"user_id": user, "item_id": h.ID, "kind": "click", "impression_id": ans.ImpressionID})
		}
	}
	if len(evs) > 0 {
		if err := s.call(ctx, "POST", "/v1/events", s.EventsToken, map[string]any{"events": evs}, nil); err != nil {
			return len(ans.Hits), 0, err
		}
	}
	return len(ans.Hits), len(evs), nil
}

// Call sends a request with a JSON body (nil: none) and decodes a 2xx
// answer into out (nil: discarded); any other status is an error.
func (s *Simulator) Call(ctx context.Context, method, path, token string, body, out any) error {
	return s.call(ctx, method, path, token, body, out)
}

func (s *Simulator) call(ctx context.Context, method, path, token string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.Base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := s.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}
