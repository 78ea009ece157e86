// Command canaryd protects production after every deploy of an AWS Lambda
// alias: it watches health and metrics, and rolls the alias back, clears
// caches and pages on-call when a policy trips.
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
