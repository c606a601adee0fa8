package tower

// Generated writes a generated data set and reads it back, with its
// users' item histories.
var Generated = generated

// ResolveSoftmax is the configuration training a catalog of n items uses.
func (c Config) ResolveSoftmax(n int) Config { return c.resolveSoftmax(n) }
