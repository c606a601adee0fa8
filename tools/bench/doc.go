// Package bench holds Duet's benchmark harnesses, what `duet bench`
// measures: the vector indexes against an exact scan and hnswlib
// (RunANN, on vectors from GenerateClustered or ReadFvecs), filtered
// vector search through the catalogue's filters (RunFilter), hybrid
// requests in process (RunSearch), the text index (RunText), a running
// server over HTTP (RunHTTP) and a snapshot's files, load and write times
// and compression (RunSnapshot).
//
// Each returns a report that writes its figures as one JSON file of the
// shape of Report, atomically; those whose table comes at the end also
// write it to an io.Writer, and the long ones write their lines as they
// are measured to the Out or Log writer of their options. The harnesses
// take their settings as options: they parse no flags and read no
// environment variables.
package bench
