package weaviate

// ReadsWeak reports whether c's reads ask at the weaker consistency
// level (see Client.read).
func ReadsWeak(c *Client) bool { return c.weakUntil.Load() != 0 }
