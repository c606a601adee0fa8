// Package server owns Duet's HTTP API on Echo: the routes and their
// handlers, the middleware (auth, limits, rate limiting, request ids, access
// logs, metrics), the OpenAPI document and the embedded web pages.
//
// It holds no ranking or model logic: reads go to the store and the
// search engine, and a write is acknowledged only after the store has made
// it durable, then handed to the live indexes.
package server
