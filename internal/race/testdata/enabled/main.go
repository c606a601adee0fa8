// Command enabled prints race.Enabled, for the package's test.
package main

import (
	"fmt"

	"github.com/duetrec/duet/internal/race"
)

func main() { fmt.Println(race.Enabled) }
