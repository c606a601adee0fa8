package weaviate

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// leaseClass holds the leases: which collections the processes using the
// cluster are serving. Its name does not begin with Prefix, so it is no
// collection of items.
const leaseClass = "DuetLeases"

// ensureLeases creates the lease class if it is missing, replicated on up
// to three nodes so that losing one loses no lease.
func (c *Client) ensureLeases(ctx context.Context) error {
	err := c.do(ctx, http.MethodGet, "/v1/schema/"+leaseClass, nil, nil)
	if err == nil || !isNotFound(err) {
		return err
	}
	var nodes struct {
		Nodes []struct{} `json:"nodes"`
	}
	if err := c.do(ctx, http.MethodGet, "/v1/nodes", nil, &nodes); err != nil {
		return err
	}
	class := map[string]any{
		"class":             leaseClass,
		"vectorizer":        "none",
		"replicationConfig": map[string]any{"factor": min(max(len(nodes.Nodes), 1), 3), "deletionStrategy": "TimeBasedResolution"},
		"properties": []property{
			textProp("holder", false, true, false, "field"),
			textProp("collection", false, true, false, "field"),
			{Name: "until", DataType: []string{"number"}, IndexFilterable: boolp(true)},
		},
	}
	err = c.do(ctx, http.MethodPost, "/v1/schema", class, nil)
	if err != nil && strings.Contains(err.Error(), "already exists") {
		return nil // made by another process meanwhile
	}
	return err
}

// Lease records that holder serves the collections until ttl from now,
// replacing its earlier lease. Rebuilds drop no leased collection.
func (c *Client) Lease(ctx context.Context, holder string, collections []string, ttl time.Duration) error {
	if err := c.ensureLeases(ctx); err != nil {
		return fmt.Errorf("lease: %w", err)
	}
	until := float64(time.Now().Add(ttl).Unix())
	batch := struct {
		Objects []wireObject `json:"objects"`
	}{}
	for _, col := range collections {
		batch.Objects = append(batch.Objects, wireObject{Class: leaseClass, ID: UUID("lease\x00" + holder + "\x00" + col),
			Properties: map[string]any{"holder": holder, "collection": col, "until": until}})
	}
	var results []batchResult
	if err := c.do(ctx, http.MethodPost, "/v1/batch/objects?consistency_level=QUORUM", batch, &results); err != nil {
		return fmt.Errorf("lease: %w", err)
	}
	if err := batchError(results, len(collections), func(i int) string { return collections[i] }); err != nil {
		return fmt.Errorf("lease: %w", err)
	}
	return nil
}

// Leased returns the collections some lease names that has not expired.
func (c *Client) Leased(ctx context.Context) (map[string]bool, error) {
	if err := c.ensureLeases(ctx); err != nil {
		return nil, fmt.Errorf("leases: %w", err)
	}
	now := number(float64(time.Now().Unix()))
	q := "{Get{" + leaseClass + "(limit:10000, consistencyLevel:QUORUM, where:{path:[\"until\"],operator:GreaterThan,valueNumber:" + now + "}){collection}}}"
	var out struct {
		Get map[string][]struct {
			Collection string `json:"collection"`
		}
	}
	if err := c.graphQL(ctx, q, &out); err != nil {
		return nil, fmt.Errorf("leases: %w", err)
	}
	leased := map[string]bool{}
	for _, r := range out.Get[leaseClass] {
		leased[r.Collection] = true
	}
	return leased, nil
}

// DropUnused drops Duet's collections that are neither in keep nor
// leased, and returns their names.
func (c *Client) DropUnused(ctx context.Context, keep []string) ([]string, error) {
	leased, err := c.Leased(ctx)
	if err != nil {
		return nil, err
	}
	names, err := c.Collections(ctx)
	if err != nil {
		return nil, err
	}
	var dropped []string
	for _, name := range names {
		if leased[name] || slices.Contains(keep, name) {
			continue
		}
		if err := c.Drop(ctx, name); err != nil {
			return dropped, err
		}
		dropped = append(dropped, name)
	}
	return dropped, nil
}

// Release gives up every lease of holder.
func (c *Client) Release(ctx context.Context, holder string) error {
	if err := c.ensureLeases(ctx); err != nil {
		return fmt.Errorf("release: %w", err)
	}
	q := "{Get{" + leaseClass + "(limit:10000, where:{path:[\"holder\"],operator:Equal,valueText:" + quote(holder) + "}){_additional{id}}}}"
	var out struct {
		Get map[string][]struct {
			Additional struct {
				ID string `json:"id"`
			} `json:"_additional"`
		}
	}
	if err := c.graphQL(ctx, q, &out); err != nil {
		return fmt.Errorf("release: %w", err)
	}
	for _, r := range out.Get[leaseClass] {
		err := c.do(ctx, http.MethodDelete, "/v1/objects/"+leaseClass+"/"+r.Additional.ID+"?consistency_level=QUORUM", nil, nil)
		if err != nil && !isNotFound(err) {
			return fmt.Errorf("release: %w", err)
		}
	}
	return nil
}
