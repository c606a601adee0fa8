package weaviate

import "errors"

var (
	// ErrUnavailable means no node of the cluster answered.
	ErrUnavailable = errors.New("weaviate: unavailable")
	// ErrRejected means Weaviate refused a request; the error says why.
	ErrRejected = errors.New("weaviate: rejected")
	// ErrBadURL means a cluster URL is not weaviate://host:port[,host:port…].
	ErrBadURL = errors.New("weaviate: bad URL")
	// ErrNoCollection means the collection does not exist.
	ErrNoCollection = errors.New("weaviate: no such collection")
)
