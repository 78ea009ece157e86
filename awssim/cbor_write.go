package awssim

import (
	"encoding/binary"
	"math"
	"time"
)

// cborWriter appends CBOR items directly (no intermediate cbor.Value
// tree): used for GetMetricData answers, which can carry 100,000 values.
type cborWriter struct{ b []byte }

func (w *cborWriter) head(major byte, n uint64) {
	switch {
	case n < 24:
		w.b = append(w.b, major<<5|byte(n))
	case n <= math.MaxUint8:
		w.b = append(w.b, major<<5|24, byte(n))
	case n <= math.MaxUint16:
		w.b = append(w.b, major<<5|25)
		w.b = binary.BigEndian.AppendUint16(w.b, uint16(n))
	case n <= math.MaxUint32:
		w.b = append(w.b, major<<5|26)
		w.b = binary.BigEndian.AppendUint32(w.b, uint32(n))
	default:
		w.b = append(w.b, major<<5|27)
		w.b = binary.BigEndian.AppendUint64(w.b, n)
	}
}

func (w *cborWriter) mapHead(n int)  { w.head(5, uint64(n)) }
func (w *cborWriter) listHead(n int) { w.head(4, uint64(n)) }

func (w *cborWriter) str(s string) {
	w.head(3, uint64(len(s)))
	w.b = append(w.b, s...)
}

func (w *cborWriter) float(f float64) {
	w.b = append(w.b, 7<<5|27)
	w.b = binary.BigEndian.AppendUint64(w.b, math.Float64bits(f))
}

// time writes a tag-1 epoch-seconds timestamp, as rpcv2Cbor does.
func (w *cborWriter) time(t time.Time) {
	w.head(6, 1)
	w.float(float64(t.UnixMilli()) / 1e3)
}
