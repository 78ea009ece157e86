package awssim

import "time"

// Scenario is a deploy of a Lambda alias with scripted traffic: the
// known-good version serves Old before DeployAt, then the new version serves
// New (all traffic, or Weight of it while the alias splits traffic).
type Scenario struct {
	Function, Alias string
	DeployAt        time.Time
	Baseline        time.Duration // traffic before DeployAt (default 1h)
	After           time.Duration // traffic after DeployAt (default 1h)
	Old, New        Profile
	// Weight in (0,1) leaves the alias on the known-good version with
	// AdditionalVersionWeights {new: Weight}; otherwise the alias moves.
	Weight float64
}

// DeployResult says what Play did.
type DeployResult struct {
	Known      string // known-good version the alias was on
	New        string // the deployed version
	RevisionID string // alias RevisionId after the deploy
}

// HealthyProfile is steady traffic: 100 inv/min, 0.1% errors, ~120 ms.
func HealthyProfile(seed int64) Profile {
	return Profile{InvocationsPerMin: 100, ErrorRate: 0.001, DurationMs: 120, DurationJitterMs: 20, Seed: seed}
}

// GoodDeploy: the new version behaves like the old one.
func GoodDeploy(fn, alias string, at time.Time) Scenario {
	return Scenario{Function: fn, Alias: alias, DeployAt: at, Old: HealthyProfile(1), New: HealthyProfile(2)}
}

// BadDeploy: the new version fails 25% of invocations and is 4x slower.
func BadDeploy(fn, alias string, at time.Time) Scenario {
	sc := GoodDeploy(fn, alias, at)
	sc.New.ErrorRate, sc.New.DurationMs, sc.New.DurationJitterMs = 0.25, 480, 80
	return sc
}

// SlowDeploy: the new version has no more errors but is 4x slower.
func SlowDeploy(fn, alias string, at time.Time) Scenario {
	sc := GoodDeploy(fn, alias, at)
	sc.New.DurationMs, sc.New.DurationJitterMs = 480, 80
	return sc
}

// LowTrafficBadDeploy: errors like BadDeploy at 0.5 invocations a minute,
// so many periods have no datapoint.
func LowTrafficBadDeploy(fn, alias string, at time.Time) Scenario {
	sc := BadDeploy(fn, alias, at)
	sc.Old.InvocationsPerMin, sc.New.InvocationsPerMin = 0.5, 0.5
	return sc
}

// Canary returns sc splitting weight of the traffic to the new version.
func (sc Scenario) Canary(weight float64) Scenario {
	sc.Weight = weight
	return sc
}

// Play applies sc: creates the function and the alias on a known-good
// version if needed, writes baseline traffic, publishes and deploys a new
// version (alias state changes at once, metrics are stamped with their own
// times) and writes the traffic after the deploy.
func (s *Sim) Play(sc Scenario) DeployResult {
	if sc.Baseline <= 0 {
		sc.Baseline = time.Hour
	}
	if sc.After <= 0 {
		sc.After = time.Hour
	}
	known, _, _ := s.Alias(sc.Function, sc.Alias)
	if known == "" {
		known = s.PublishVersion(sc.Function)
		s.CreateAlias(sc.Function, sc.Alias, known)
	}
	at, end := sc.DeployAt, sc.DeployAt.Add(sc.After)
	s.LambdaTraffic(sc.Function, sc.Alias, known, at.Add(-sc.Baseline), at, sc.Old)
	next := s.PublishVersion(sc.Function)
	res := DeployResult{Known: known, New: next}
	if sc.Weight > 0 && sc.Weight < 1 {
		res.RevisionID = s.Deploy(sc.Function, sc.Alias, known, map[string]float64{next: sc.Weight})
		old, nw := sc.Old, sc.New
		old.InvocationsPerMin *= 1 - sc.Weight
		nw.InvocationsPerMin *= sc.Weight
		s.LambdaTraffic(sc.Function, sc.Alias, known, at, end, old)
		s.LambdaTraffic(sc.Function, sc.Alias, next, at, end, nw)
		return res
	}
	res.RevisionID = s.Deploy(sc.Function, sc.Alias, next, nil)
	s.LambdaTraffic(sc.Function, sc.Alias, next, at, end, sc.New)
	return res
}
