//go:build !race

package seqtest

const raceEnabled = false
