package content

import "context"

// Names the black-box tests reach that are not part of the API.
var (
	StoreFile         = storeFile
	DumpItems         = dumpItems
	DumpEvents        = dumpEvents
	DumpVocabulary    = dumpVocabulary
	ParseMovieRecord  = parseMovieRecord
	ParseRatingRecord = parseRatingRecord
	ParseTagRecord    = parseTagRecord
	ParseTimestamp    = parseTimestamp
	EventRecord       = eventRecord
)

func RestoreVocabulary(ctx context.Context, s *Store, v Vocabulary) error {
	if err := checkVocabulary(&v); err != nil {
		return err
	}
	return s.restoreVocabulary(ctx, v)
}
