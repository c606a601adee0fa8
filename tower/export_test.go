package tower

// RaceEnabled lets the black-box tests shrink their work under the race
// detector, which slows the training loops tenfold or more.
const RaceEnabled = raceEnabled
