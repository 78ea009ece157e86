// Package demo runs the whole canaryd story offline: an in-process AWS
// simulator, a small service with a health endpoint, the embedded store and
// the real daemon; a good deploy is baked and promoted, a bad one is rolled
// back, and every step is shown as it happens. `canaryd demo` runs it.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"

	"github.com/canaryd/canaryd/awsclient"
	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/daemon"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/boltstore"
)

// Options tune the demo.
type Options struct {
	// Redis is a Redis address for the cache step; "" starts a throw-away
	// redis-server when one is installed, and skips the step otherwise;
	// "off" skips it.
	Redis string
	// Speed is how many simulated seconds pass per real second (default 30).
	Speed float64
	// Timeout bounds the whole demo in real time (default 90s).
	Timeout time.Duration
	// Logger receives the daemon's own logs (default: none).
	Logger *zap.Logger
	// Console is the address the admin API and its web console listen on
	// (default 127.0.0.1:0, a free port on loopback; "off": none).
	Console string
	// ConsoleToken is the reader token the console signs in with
	// (default: a random one, printed with the console's address).
	ConsoleToken string
	// OnConsole is told the console's URL and token once it listens.
	OnConsole func(url, token string)
	// Stay keeps the console up after the demo, until ctx ends.
	Stay bool
	// BetweenActs, when set, is called after the good deploy is promoted
	// and before the bad one starts (simulated time keeps running); the
	// browser tests look at the console there.
	BetweenActs func(ctx context.Context)
}

const (
	function     = "checkout"
	alias        = "live"
	distribution = "EDEMO12345"
	cachePattern = "checkout:resp:*"
)

// Result is what the demo proved.
type Result struct {
	RolledBack    bool
	AliasVersion  string
	Invalidations int
	KeysRemoved   int64
	RedisSkipped  string
	Alerts        int
	IncidentID    string
}

// Run plays the demo, writing a readable account to out. It returns an
// error unless the bad deploy was really rolled back.
func Run(ctx context.Context, out io.Writer, o Options) (Result, error) {
	if o.Speed <= 0 {
		o.Speed = 30
	}
	if o.Timeout <= 0 {
		o.Timeout = 90 * time.Second
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	dir, err := os.MkdirTemp("", "canaryd-demo-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(dir)

	start := time.Date(2026, 1, 15, 9, 0, 0, 0, time.UTC)
	clock := clockwork.NewFakeClockAt(start)
	w := newWriter(out, clock, start)
	w.say("canaryd demo: AWS is simulated in-process (awssim); time runs %gx faster than real time", o.Speed)

	env, err := setUp(ctx, w, clock, dir, o)
	if err != nil {
		return Result{}, err
	}
	defer env.close()
	url, err := env.serveConsole(parent)
	if err != nil {
		return Result{}, err
	}
	res, err := env.play(ctx)
	if err == nil && o.Stay && url != "" {
		w.raw(fmt.Sprintf("\nThe console stays up at %s until you press Ctrl-C.\n", url))
		<-parent.Done()
	}
	return res, err
}

// stack is everything the demo runs.
type stack struct {
	w       *writer
	o       Options
	clock   *clockwork.FakeClock
	sim     *awssim.Sim
	simURL  string
	traces  string // daemon.trace_dir
	service *service
	hook    *receiver
	cache   *cache
	store   store.Store
	daemon  *daemon.Daemon
	token   string
	conf    *config.Config
	lambda  *lambda.Client
	closers []func()
}

func (s *stack) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

func setUp(ctx context.Context, w *writer, clock *clockwork.FakeClock, dir string, o Options) (*stack, error) {
	s := &stack{w: w, o: o, clock: clock, traces: filepath.Join(dir, "traces")}
	s.sim = awssim.New(awssim.Options{Clock: clock, InvalidationDelay: 20 * time.Second, AutoCreateDistributions: true, HideFutureData: true})
	url, stop, err := s.sim.Serve("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.simURL = url
	s.closers = append(s.closers, stop)
	w.say("awssim listening on %s (Lambda, CloudWatch, CloudFront, SNS)", url)

	s.service = newService(s.sim)
	s.closers = append(s.closers, s.service.close)
	s.hook = newReceiver(w)
	s.closers = append(s.closers, s.hook.close)
	s.cache = openCache(ctx, o.Redis, dir)
	s.closers = append(s.closers, s.cache.close)
	if s.cache.addr == "" {
		w.say("Redis: %s; the cache step is skipped", s.cache.skipped)
	} else {
		w.say("Redis: %s (%s)", s.cache.addr, s.cache.origin)
	}

	s.conf, err = config.Parse([]byte(demoConfig(s)), "demo.toml", config.Options{})
	if err != nil {
		return nil, fmt.Errorf("demo config: %w", err)
	}
	st, err := boltstore.Open(filepath.Join(dir, "canaryd.db"), boltstore.Options{Clock: clock})
	if err != nil {
		return nil, err
	}
	s.store = st
	s.closers = append(s.closers, func() { _ = st.Close() })
	creds := credentials.NewStaticCredentialsProvider("DEMO", "DEMO", "")
	s.daemon, err = daemon.New(daemon.Config{Conf: s.conf, Store: st, Clock: clock, Logger: o.Logger,
		AWS: awsclient.Options{Credentials: creds}, TickEvery: time.Second})
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsclient.Load(ctx, awsclient.Options{Region: "us-east-1", EndpointURL: url, Credentials: creds})
	if err != nil {
		return nil, err
	}
	s.lambda = lambda.NewFromConfig(awsCfg)
	return s, nil
}

// readAlias reads the alias back through the real SDK client.
func (s *stack) readAlias(ctx context.Context) (string, error) {
	out, err := s.lambda.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String(function), Name: aws.String(alias)})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.FunctionVersion), nil
}

var errTimeout = errors.New("demo: timed out waiting")
