package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/smithy-go"
)

// checkStatus is the verdict of one check of `canaryd check --aws`.
type checkStatus string

const (
	checkOK       checkStatus = "ok"
	checkFail     checkStatus = "FAIL"     // a rollback or an alert would fail: exit 1
	checkWarn     checkStatus = "WARN"     // works, but something deserves a look
	checkUnproved checkStatus = "UNPROVED" // no call proves it without side effects; the line says how to
)

// checkLine is one line of the report: what was checked, for whom, and what
// was found.
type checkLine struct {
	Status checkStatus
	Scope  string // a target's name, "notifier NAME", "store"
	What   string // "lambda:UpdateAlias", "redis pages", "probe health", ...
	Detail string
}

// checkReport prints each line as it comes and counts failures.
type checkReport struct {
	w      io.Writer
	failed int
	lines  []checkLine
}

func (r *checkReport) add(l checkLine) {
	if l.Status == checkFail {
		r.failed++
	}
	r.lines = append(r.lines, l)
	fmt.Fprintf(r.w, "%-8s %s %s: %s\n", l.Status, l.Scope, l.What, l.Detail)
}

// awsLine turns the result of an AWS call that proves action into a line:
// an access-denied answer names the missing permission.
func awsLine(scope, action string, err error, okDetail string) checkLine {
	if err == nil {
		return checkLine{checkOK, scope, action, okDetail}
	}
	if isAccessDenied(err) {
		return checkLine{checkFail, scope, action, "MISSING PERMISSION: AWS denied " + action + " (" + apiMessage(err) + ")"}
	}
	return checkLine{checkFail, scope, action, err.Error()}
}

// isAccessDenied reports whether err is AWS refusing the caller's identity
// an action (each service spells it its own way).
func isAccessDenied(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	code := ae.ErrorCode()
	return strings.Contains(code, "AccessDenied") || code == "AuthorizationError" || code == "UnauthorizedOperation"
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func apiMessage(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode() + ": " + ae.ErrorMessage()
	}
	return err.Error()
}
