package snapshot

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/duetrec/duet/index"
)

// FileSize is the size of one file of a snapshot, or of the text index's
// files together.
type FileSize struct {
	Name  string `json:"name"`
	Bytes int64  `json:"bytes"`
}

// Sizes lists the files the manifest names, by name, with their sizes;
// the text index's files are one entry at the end.
func Sizes(m Manifest) []FileSize {
	var out []FileSize
	var textBytes int64
	textFiles := 0
	for name, f := range m.Files {
		if strings.HasPrefix(name, fileText+"/") {
			textFiles++
			textBytes += f.Size
			continue
		}
		out = append(out, FileSize{name, f.Size})
	}
	slices.SortFunc(out, func(a, b FileSize) int { return strings.Compare(a.Name, b.Name) })
	if textFiles > 0 {
		out = append(out, FileSize{fmt.Sprintf("text index (%d files)", textFiles), textBytes})
	}
	return out
}

// Part is a piece of a snapshot, read whole: for measuring how it
// compresses.
type Part struct {
	Name string
	Data []byte
}

// Parts reads the parts of the snapshot in dir whose compression is worth
// knowing: the sections of an HNSW index's file (ids, vectors, neighbour
// lists, and the codes of the walk), or the whole file of another index, and the model.
func Parts(dir string, m Manifest) ([]Part, error) {
	vecs, err := os.ReadFile(filepath.Join(dir, fileVectors))
	if err != nil {
		return nil, err
	}
	var parts []Part
	if index.Kind(m.Meta["ann"]) == index.KindHNSW {
		s, err := index.SplitHNSW(vecs)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fileVectors, err)
		}
		parts = append(parts,
			Part{"ids (" + fileVectors + ")", s.IDs},
			Part{"float32 vectors (" + fileVectors + ")", s.Vectors})
		if s.Codes != nil {
			parts = append(parts, Part{"int8 codes and scales (" + fileVectors + ")", s.Codes})
		}
		parts = append(parts, Part{"adjacency lists (" + fileVectors + ")", s.Lists})
	} else {
		parts = append(parts, Part{fileVectors, vecs})
	}
	model, err := os.ReadFile(filepath.Join(dir, fileModel))
	if err != nil {
		return nil, err
	}
	return append(parts, Part{fileModel, model}), nil
}
