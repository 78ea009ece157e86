package deploy_test

import (
	"reflect"
	"testing"
)

// TestScannerFindsEveryWayToCallAWS: a package that calls an operation the
// policies do not grant, through a client, an interface, a paginator and a
// credential provider, is seen for each.
func TestScannerFindsEveryWayToCallAWS(t *testing.T) {
	got := awsActions(t, "./deploy/testdata/extracalls")
	want := []string{"cloudwatch:GetMetricData", "lambda:DeleteAlias", "lambda:ListAliases", "sns:Publish", "sts:AssumeRole"}
	if !reflect.DeepEqual(sortedKeys(got), want) {
		t.Fatalf("found %v, want %v", got, want)
	}
}
