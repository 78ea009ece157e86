package quality

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Seed sets. Rules are tuned on TuningSeeds; the table is reported on
// ReportSeeds, which no tuning may look at (README.md).
const (
	TuningSeeds = "1-300"
	ReportSeeds = "10001-10100"
)

// ParseSeeds parses "a-b" ranges and single seeds, comma-separated; n > 0
// takes n seeds from the first one instead.
func ParseSeeds(s string, n int) ([]uint64, error) {
	var out []uint64
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.ParseUint(lo, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("seeds %q: %w", s, err)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 64); err != nil || b < a {
				return nil, fmt.Errorf("seeds %q: bad range %q", s, part)
			}
		}
		for x := a; x <= b; x++ {
			out = append(out, x)
		}
	}
	if n > 0 {
		first := out[0]
		out = out[:0]
		for i := range uint64(n) {
			out = append(out, first+i)
		}
	}
	return out, nil
}

// ParseKinds selects kinds by name or prefix ("bad/", "good/steady"),
// comma-separated; "" selects every kind. A whole kind's name selects that
// kind alone (good/low-traffic, not good/low-traffic-incident too), and a
// kind two entries select runs once.
func ParseKinds(s string) ([]Kind, error) {
	if s == "" {
		return nil, nil
	}
	var out []Kind
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		_, exact := Spec(Kind(part))
		matched := false
		for _, k := range kindSpecs {
			if name := string(k.Kind); name == part || !exact && strings.HasPrefix(name, part) {
				matched = true
				if !slices.Contains(out, k.Kind) {
					out = append(out, k.Kind)
				}
			}
		}
		if !matched {
			return nil, fmt.Errorf("no scenario kind matches %q", part)
		}
	}
	return out, nil
}
