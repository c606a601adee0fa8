package tower

// RaceEnabled lets the black-box tests shrink their work under the race
// detector, which slows the training loops tenfold or more.
const RaceEnabled = raceEnabled

// Generated writes a generated data set and reads it back, with its
// users' item histories.
var Generated = generated
