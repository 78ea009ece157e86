package watcher

import (
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
)

// isThrottle reports whether err is an AWS throttling error.
func isThrottle(err error) bool {
	if err == nil {
		return false
	}
	if retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary {
		return true
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded":
			return true
		}
	}
	return false
}

// errReason is a short, credential-free description of an AWS error for a
// sample's Reason.
func errReason(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		if ae.ErrorMessage() != "" {
			return ae.ErrorCode() + ": " + ae.ErrorMessage()
		}
		return ae.ErrorCode()
	}
	return err.Error()
}
