package tower

// Generated writes a generated data set and reads it back, with its
// users' item histories.
var Generated = generated
