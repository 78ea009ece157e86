package watcher

import (
	"errors"

	"github.com/aws/smithy-go"
)

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
