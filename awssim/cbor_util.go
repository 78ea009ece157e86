package awssim

import (
	"fmt"
	"math"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

// Small accessors over decoded CBOR maps (smithy-go's encoding/cbor).

func cStr(m cbor.Map, k string) (string, bool) {
	s, ok := m[k].(cbor.String)
	return string(s), ok
}

func cMap(m cbor.Map, k string) (cbor.Map, bool) {
	v, ok := m[k].(cbor.Map)
	return v, ok
}

func cList(m cbor.Map, k string) (cbor.List, bool) {
	v, ok := m[k].(cbor.List)
	return v, ok
}

func cBool(m cbor.Map, k string) (bool, bool) {
	v, ok := m[k].(cbor.Bool)
	return bool(v), ok
}

func cNum(v cbor.Value) (float64, bool) {
	switch n := v.(type) {
	case cbor.Uint:
		return float64(n), true
	case cbor.NegInt:
		return -float64(n), true
	case cbor.Float32:
		return float64(n), true
	case cbor.Float64:
		return float64(n), true
	}
	return 0, false
}

func cFloat(m cbor.Map, k string) (float64, bool) {
	v, ok := m[k]
	if !ok {
		return 0, false
	}
	return cNum(v)
}

func cFloats(m cbor.Map, k string) ([]float64, error) {
	l, ok := cList(m, k)
	if !ok {
		return nil, nil
	}
	out := make([]float64, 0, len(l))
	for _, v := range l {
		f, ok := cNum(v)
		if !ok {
			return nil, fmt.Errorf("%s: not a number", k)
		}
		out = append(out, f)
	}
	return out, nil
}

// cTime decodes a tag-1 epoch-seconds timestamp.
func cTime(m cbor.Map, k string) (time.Time, bool) {
	t, ok := m[k].(*cbor.Tag)
	if !ok || t.ID != 1 {
		return time.Time{}, false
	}
	f, ok := cNum(t.Value)
	if !ok {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
}
