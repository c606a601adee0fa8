package bench

import "io"

// HNSWLibHeaderInstalled tells the tests whether the driver can be built.
var HNSWLibHeaderInstalled = hnswlibHeaderInstalled

// HNSWLibWidth is one width of the driver's report.
type HNSWLibWidth struct {
	Ef     int
	QPS    float64
	Labels [][]string
}

// ParseHNSWLibOutput parses the driver's report for the tests.
func ParseHNSWLibOutput(r io.Reader, nq int) (buildS, bytesPerVector float64, widths []HNSWLibWidth, err error) {
	res, err := parseHNSWLibOutput(r, nq)
	if err != nil {
		return 0, 0, nil, err
	}
	for _, row := range res.rows {
		widths = append(widths, HNSWLibWidth{Ef: row.ef, QPS: row.qps, Labels: row.labels})
	}
	return res.buildS, res.bpv, widths, nil
}
