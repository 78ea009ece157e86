package awssim

import "time"

// Profile shapes synthetic Lambda traffic written by LambdaTraffic.
type Profile struct {
	InvocationsPerMin float64 // mean invocations per minute
	ErrorRate         float64 // fraction of invocations that error, 0..1
	DurationMs        float64 // mean duration
	DurationJitterMs  float64 // spread of durations around the mean
	ThrottleRate      float64 // throttles as a fraction of invocations
	Seed              int64   // deterministic noise
	// ErrorRampTo, when > 0, ramps the error rate linearly from ErrorRate
	// at the start of the range to ErrorRampTo at its end.
	ErrorRampTo float64
	// DropRate is the fraction of minutes with no datapoints at all
	// (missing periods).
	DropRate float64
}

// FaultKind is what an injected fault does to a call.
type FaultKind int

// Fault kinds.
const (
	FaultThrottle FaultKind = iota + 1 // the service's real throttling error
	Fault5xx                           // 500 InternalFailure / 503 ServiceUnavailable
	FaultLatency                       // adds Latency (real time) before answering
	FaultReset                         // closes the connection without an answer
)

// Fault is injected into calls of one API ("GetMetricData", "UpdateAlias",
// ... or "*" for all). With Count > 0 it hits the next Count calls; else with
// Rate > 0 it hits that fraction of calls (deterministic PRNG). After lets
// that many matching calls through first (a fixed schedule: After 3, Count
// 2 fails the 4th and 5th calls).
type Fault struct {
	API     string
	Kind    FaultKind
	Count   int
	Rate    float64
	After   int
	Latency time.Duration
	// Status picks 500 or 503 for Fault5xx (default 500).
	Status int
	// Match, optional, limits the fault to calls whose main parameters
	// (Call.Params, e.g. {"FunctionName": "api"}) have these values.
	Match map[string]string
}

// Call is one recorded API call (every attempt, including those answered
// by an injected fault).
type Call struct {
	API    string
	Time   time.Time      // the sim clock when answered
	Params map[string]any // main request parameters (e.g. FunctionName, RevisionId)
	Err    string         // error code returned, "" on success, "ConnectionReset"
	Status int            // HTTP status returned (0 for a reset connection)
	// Result holds main response values on success (e.g. RevisionId of
	// UpdateAlias, Id of CreateInvalidation, MessageId of Publish).
	Result map[string]any
}

// Invalidation is a CloudFront invalidation as the simulator holds it.
type Invalidation struct {
	ID              string
	Distribution    string
	CallerReference string
	Paths           []string
	CreateTime      time.Time
	Status          string // "InProgress" or "Completed" (as of the sim clock)
}

// SNSMessage is one published SNS message.
type SNSMessage struct {
	TopicARN   string
	MessageID  string
	Message    string
	Subject    string
	Attributes map[string]string
	Time       time.Time
}
