// Package awssim is an in-process AWS simulator for exactly the APIs canaryd
// calls, on the wire protocols the pinned aws-sdk-go-v2 clients speak, so the
// daemon's code is identical against AWS and against the simulator: only
// the endpoint differs. Tests use Start (an httptest server plus an
// aws.Config built by awsclient.Load); the demo uses New + Serve.
//
//	sim, cfg := awssim.Start(t, awssim.Options{Clock: clk, InvalidationDelay: time.Minute})
//	res := sim.Play(awssim.BadDeploy("checkout", "live", clk.Now()))   // one line: a bad deploy
//	clients := awsclient.New(cfg)                                        // real SDK clients
//
// # Implemented
//
// Routing is by protocol: RPCv2 CBOR (path /service/GraniteServiceVersion20100801/operation/<Op>,
// header Smithy-Protocol: rpc-v2-cbor), Lambda REST-JSON (/2015-03-31/functions...,
// concurrency under /2017-10-31/functions and /2019-09-30/functions,
// /2016-08-19/account-settings),
// CloudFront REST-XML (/2020-05-31/distribution/...), SNS and STS query
// protocol (form POST with Action=), CodeDeploy JSON 1.1 (X-Amz-Target:
// CodeDeploy_20141006.<Op>), SQS JSON 1.0 (X-Amz-Target: AmazonSQS.<Op>,
// service/sqs v1.53), SSM JSON 1.1 (X-Amz-Target:
// AmazonSSM.GetParameter), S3 path-style GetObject (GET /bucket/key?x-id=GetObject).
// Also: STS AssumeRole (any well-formed role ARN), SSM GetParameter
// (PutParameter seeds), S3 GetObject (PutObject seeds) — the calls of a
// target's role_arn and of --config ssm:/s3://. Every request must carry an Authorization header
// (any SigV4 signature is accepted, none is verified); unsigned requests get
// 403 MissingAuthenticationToken(Exception).
//
// Lambda (REST-JSON): CreateFunction, PublishVersion, CreateAlias, GetAlias,
// UpdateAlias (FunctionVersion; RoutingConfig.AdditionalVersionWeights set,
// changed, cleared by an empty map, kept when RoutingConfig is absent;
// RevisionId precondition -> 412 PreconditionFailedException; a new
// RevisionId on every change), DeleteAlias, ListVersionsByFunction and
// ListAliases (Marker/MaxItems, FunctionVersion filter),
// GetFunctionConfiguration (Qualifier: version or alias; name, partial or
// full ARN), Invoke (InvocationType RequestResponse, Event or DryRun;
// qualifier in the name or Qualifier; the body is what the function's
// handler returns, SetInvokeHandler, or null; a function error is
// X-Amz-Function-Error: Unhandled with {"errorMessage","errorType"};
// X-Amz-Executed-Version; the payload is recorded; Deny takes its IAM
// action, lambda:InvokeFunction; InvalidRequestContentException for a
// payload that is not JSON, RequestTooLargeException above 6 MB; a
// RequestResponse invoke beyond the function's reserved concurrency in
// flight is 429 TooManyRequestsException, Reason
// ReservedFunctionConcurrentInvocationLimitExceeded),
// PutFunctionConcurrency / GetFunctionConcurrency ({} when none) /
// DeleteFunctionConcurrency (204) on an unqualified name or ARN (reserved
// concurrency; at most the account limit - 100 reserved in all, else
// InvalidParameterValueException), GetAccountSettings (AccountLimit
// ConcurrentExecutions — SetAccountConcurrency, default 1000 —,
// UnreservedConcurrentExecutions = limit - all reservations, code size
// limits; AccountUsage FunctionCount, TotalCodeSize 0).
// SetReservedConcurrency and ReservedConcurrency seed and read
// reservations. Errors: ResourceNotFoundException 404,
// InvalidParameterValueException 400 (weights outside [0,1], more than one
// extra version, primary version or $LATEST in the weights, bad markers),
// ResourceConflictException 409, TooManyRequestsException 429 with
// Retry-After and Reason, ServiceException 500; all as X-Amzn-Errortype +
// {"Type","message"}.
//
// CloudWatch (RPCv2 CBOR, awsQueryCompatible like the real service):
// GetMetricData with MetricStat (Sum, Average, SampleCount, Minimum,
// Maximum, pNN/pNN.NN percentiles by weighted nearest rank, the trimmed
// count TC(a:b) of raw values in (a, b] with absolute bounds), Expression
// queries (numbers, query ids, + - * /, > < >= <= == !=, AND OR NOT && || !,
// parentheses, IF(cond, a[, b]), FILL(s, value|REPEAT), ABS, CEIL, FLOOR,
// PERIOD, DIFF, RATE, and SUM/AVG/MIN/MAX of an array [a, b, ...] (pointwise
// over the values present) or of one series (a scalar)),
// ReturnData, Label (default: metric name / query id), periods 1, 5, 10, 30
// or multiples of 60 aligned to the epoch (StartTime rounded down, EndTime
// exclusive), at most 500 queries (ValidationError beyond), MaxDatapoints +
// NextToken pagination (cut results report PartialData), ScanBy (default
// TimestampDescending), no datapoint for periods with nothing recorded.
// Arithmetic on a missing point yields no point; x/0 yields no point.
// PutMetricData with Value, Values/Counts and StatisticValues (statistic
// sets carry no percentiles), Timestamp defaulting to the sim clock's now.
// Errors carry __type and X-Amzn-Query-Error so the SDK yields the modeled
// types (ValidationException "ValidationError", InvalidParameterValue,
// InvalidNextToken, InternalServiceError) and throttling is code
// "Throttling", HTTP 400, which the SDK retryer treats as a throttle.
//
// CloudFront (REST-XML): CreateInvalidation (201 + Location; same
// CallerReference and paths returns the existing invalidation, other paths
// -> InvalidationBatchAlreadyExists), GetInvalidation, ListInvalidations
// (newest first, Marker = last id of the previous page). Status is
// InProgress until Options.InvalidationDelay has passed on the sim clock,
// then Completed. Distributions exist after CreateDistribution, or on first
// use with Options.AutoCreateDistributions; otherwise NoSuchDistribution
// 404. Also NoSuchInvalidation, InvalidArgument, InconsistentQuantities,
// MissingBody, BatchTooLarge.
//
// SNS (query protocol, XML answers): CreateTopic (idempotent), Publish
// (Message, Subject, MessageAttributes; NotFound 404 for unknown topics,
// InvalidParameter for empty/oversized messages or bad subjects).
// SNSMessages reads published messages back.
//
// CodeDeploy (JSON 1.1, errors as {"__type", "message"} plus
// X-Amzn-Errortype): ListDeployments (applicationName +
// deploymentGroupName, includeOnlyStatuses, ids newest first, nextToken
// pages of 100), GetDeployment (deploymentInfo: deploymentId,
// applicationName, deploymentGroupName, status, creator, createTime,
// completeTime, rollbackInfo, errorInformation MANUAL_STOP when stopped),
// StopDeployment (autoRollbackEnabled; answers status Succeeded). Errors:
// DeploymentAlreadyCompletedException (stopping a finished deployment),
// DeploymentDoesNotExistException, InvalidDeploymentIdException,
// DeploymentIdRequiredException, ApplicationDoesNotExistException,
// DeploymentGroupDoesNotExistException, Application/DeploymentGroupName
// RequiredException, InvalidDeploymentStatusException,
// InvalidNextTokenException; throttling is ThrottlingException 400.
// Deployments are Lambda deployments of one alias:
// StartCodeDeployDeployment(app, group, fn, alias, toVersion) starts one
// InProgress (creating the application and group; CreateDeploymentGroup
// makes an empty one) from the alias's current version, without moving the
// alias (Deploy models the traffic shifted so far). CodeDeployShift is
// CodeDeploy's next step: every deployment still in progress moves its
// alias to its target version alone and succeeds. StopDeployment with
// autoRollbackEnabled starts the rollback deployment CodeDeploy starts
// (creator codeDeployRollback, InProgress, back to the original version, linked
// both ways through rollbackInfo), which the next CodeDeployShift
// applies. CodeDeployDeployment(id) reads a deployment back.
//
// SQS (JSON 1.0, errors as {"__type": "com.amazonaws.sqs#Code"} plus
// X-Amzn-Query-Error, which the SDK reports: QueueDoesNotExist,
// ReceiptHandleIsInvalid, RequestThrottled, InternalError): standard queues
// with CreateQueue (VisibilityTimeout, RedrivePolicy), GetQueueUrl,
// GetQueueAttributes, SendMessage(Batch) (MD5OfMessageBody, which the SDK
// checks), ReceiveMessage (MaxNumberOfMessages, VisibilityTimeout,
// WaitTimeSeconds: a long poll waits on the sim's clock and wakes at once
// on a send or a ChangeMessageVisibility to 0, never spinning; Attributes
// ApproximateReceiveCount, SentTimestamp), DeleteMessage(Batch) (only the
// latest receipt handle deletes; a deleted one again succeeds),
// ChangeMessageVisibility, and redrive: a message received maxReceiveCount
// times moves to the dead-letter queue instead of being received again.
// Seeds: CreateQueue, SetRedrive, SendSQS; QueueMessages reads a queue back.
// SQSFaults(duplicate, reorder) adds at-least-once duplicates (a second copy
// of a received message, delivered later) and out-of-order receives (the
// oldest visible message held back, the rest newest first); throttling and
// 5xx come from InjectFault like every service's. SQSLongPolls says how many
// receives wait, so a fake-clock test can advance once the consumer waits.
//
// # Scenarios
//
// LambdaTraffic writes per-minute Invocations, Errors, Throttles and
// Duration for an alias running a version, under {FunctionName},
// {FunctionName, Resource=fn:alias} and {FunctionName, Resource=fn:alias,
// ExecutedVersion=v}, deterministic from Profile.Seed (Poisson-like counts,
// binomial errors, 16 weighted Duration samples a minute so percentiles
// work, Errors Average = error rate), and ConcurrentExecutions under
// {FunctionName} and {} (account) and UnreservedConcurrentExecutions under
// {} (functions without a reservation), one value a minute read with
// Maximum: ceil(1.2 * invocations * mean Duration ms / 60000), at least 1,
// summed over the function's versions running in the minute and over the
// account's functions. A reserved concurrency R in force when
// LambdaTraffic is called caps the function at R: the invocations it cannot
// serve count as Throttles instead. Minutes are synthesised on query, so a
// call costs O(1) memory whatever its range. Minutes without invocations
// and throttles have no datapoints (low traffic and Profile.DropRate give
// missing periods); Profile.ErrorRampTo ramps the error rate. Play runs a
// Scenario (baseline, publish, deploy — full shift or Canary(weight) — and
// traffic after); GoodDeploy, BadDeploy, SlowDeploy and LowTrafficBadDeploy
// are one-line scenarios. Options.HideFutureData hides datapoints stamped
// after the clock's now, so a scenario written ahead is revealed as a fake
// clock advances; Options.MetricDelay adds CloudWatch's ingestion lag (a
// datapoint stamped t shows once now >= t+MetricDelay).
//
// # Faults and recording
//
// InjectFault hits the next Count calls of an API (or "*") — after letting
// After calls through, for a fixed schedule — or a Rate of them from a
// deterministic PRNG (SeedFaults): FaultThrottle (each
// service's real throttling error), Fault5xx (500 InternalFailure /
// InternalServiceError / ServiceException, or 503 ServiceUnavailable with
// Status: 503), FaultLatency (real-time delay, then the call proceeds) and
// FaultReset (connection hijacked and closed with RST). Every call,
// including faulted and failed ones, is recorded as Call{API, Time (sim
// clock), Params, Err, Status, Result}; Calls(api) returns them.
// Options.CallLogLimit keeps only the newest calls, or none (NoCallLog),
// for long runs whose memory must not grow with the calls answered;
// CallCount(api) counts every call either way.
//
// awsclient's adaptive retryer rate-limits the client itself after
// throttles (sleeps of ~2s); Options.FastRetries swaps in standard mode for
// tests that inject many throttles.
//
// # Not implemented
//
// Signature verification; IAM policies (Deny("lambda:UpdateAlias") refuses an
// action with the service's real access-denied error); CodeDeploy's other
// operations (CreateDeployment, deployment groups' configuration, lifecycle
// hooks, EC2/ECS platforms), its own traffic-shifting timeline and
// StopDeployment's Pending stage; any other API or service (unknown operations
// answer UnknownOperationException / InvalidAction); Lambda function
// code (Invoke runs the test's handler, no runtime), InvokeWithResponseStream, log tails, layers, provisioned concurrency, the account-wide
// unreserved pool's limit on Invoke and on LambdaTraffic (only a reservation
// throttles), and PublishVersion's
// "no change" deduplication (every publish makes a new version);
// CloudWatch alarms, ListMetrics, GetMetricStatistics, SEARCH/METRICS() and
// the other math functions (STDDEV, RUNNING_SUM, ANOMALY_DETECTION_BAND...),
// metric math across different periods, LabelOptions, cross-account
// AccountId, units, data retention/rollup, the awsQuery (form) protocol for
// CloudWatch; CloudFront distributions' configuration and invalidations
// for distribution tenants; SQS FIFO queues, message attributes, message
// size and retention limits, delay queues, purge, tags and queue policies;
// SNS subscriptions and delivery, FIFO topics,
// message size accounting beyond 256 KiB of Message.
package awssim
