package awssim

import (
	"fmt"
	"strings"
	"sync"
)

// IAM, as far as a test needs it: the caller's identity may be denied
// operations. A denied call is answered the way AWS answers a request no
// identity-based policy allows — 403 and each service's own error code
// (lambda AccessDeniedException, CloudWatch AccessDenied, CloudFront
// AccessDenied, SNS AuthorizationError), so the SDK returns the error it
// returns against AWS — and before the operation validates anything, as
// IAM authorisation precedes the service's own checks.

// denySet holds the denied IAM actions ("lambda:UpdateAlias").
type denySet struct {
	mu      sync.Mutex
	actions map[string]bool
}

func newDenySet() *denySet { return &denySet{actions: map[string]bool{}} }

// Deny makes every later call of the IAM action (e.g. "lambda:UpdateAlias",
// "cloudfront:CreateInvalidation", "sns:Publish") fail with the service's
// access-denied error, as when the caller's policy lacks the permission.
// "lambda:*" denies every operation of a service.
func (s *Sim) Deny(action string) {
	s.deny.mu.Lock()
	s.deny.actions[action] = true
	s.deny.mu.Unlock()
}

// Allow lifts a Deny.
func (s *Sim) Allow(action string) {
	s.deny.mu.Lock()
	delete(s.deny.actions, action)
	s.deny.mu.Unlock()
}

// IAMAction is the IAM action of an operation of a service the simulator
// speaks ("lambda", "UpdateAlias" -> "lambda:UpdateAlias"); Lambda's
// Invoke is authorised as lambda:InvokeFunction.
func IAMAction(service, api string) string {
	if a, ok := iamActionNames[service+":"+api]; ok {
		return a
	}
	return service + ":" + api
}

// iamActionNames are the operations whose IAM action has another name.
var iamActionNames = map[string]string{
	"lambda:Invoke":          "lambda:InvokeFunction",
	"sqs:DeleteMessageBatch": "sqs:DeleteMessage",
	"sqs:SendMessageBatch":   "sqs:SendMessage",
}

func (d *denySet) denied(service, api string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.actions[IAMAction(service, api)] || d.actions[service+":*"]
}

// accessDenied is the error each service answers an unauthorised call with.
func (s *Sim) accessDenied(service, api string) *apiError {
	action := IAMAction(service, api)
	msg := fmt.Sprintf("User: arn:aws:iam::%s:user/awssim is not authorized to perform: %s because no identity-based policy allows the %s action",
		s.account, action, action)
	switch service {
	case "lambda", "ssm", "codedeploy":
		return &apiError{status: 403, code: "AccessDeniedException", message: msg}
	case "cloudwatch":
		return &apiError{status: 403, code: "AccessDeniedException", queryCode: "AccessDenied", message: msg}
	case "sns":
		return &apiError{status: 403, code: "AuthorizationError", message: msg}
	case "sqs":
		return sqsErr(403, "AccessDeniedException", "AccessDenied", msg)
	default: // cloudfront, sts
		return &apiError{status: 403, code: "AccessDenied", message: msg}
	}
}

// IsAccessDenied reports whether an error code recorded in a Call is one
// of the access-denied codes above.
func IsAccessDenied(code string) bool {
	return strings.Contains(code, "AccessDenied") || code == "AuthorizationError"
}
