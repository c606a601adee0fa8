package content

// Names the black-box tests reach that are not part of the API.
var (
	StoreFile         = storeFile
	DumpItems         = dumpItems
	DumpEvents        = dumpEvents
	ParseMovieRecord  = parseMovieRecord
	ParseRatingRecord = parseRatingRecord
	ParseTagRecord    = parseTagRecord
	ParseTimestamp    = parseTimestamp
	EventRecord       = eventRecord
)
