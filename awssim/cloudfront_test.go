package awssim

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
)

func batch(ref string, paths ...string) *cloudfront.CreateInvalidationInput {
	return &cloudfront.CreateInvalidationInput{DistributionId: aws.String("EDIST"), InvalidationBatch: &types.InvalidationBatch{
		CallerReference: aws.String(ref), Paths: &types.Paths{Quantity: aws.Int32(int32(len(paths))), Items: paths}}}
}

func TestCloudFrontInvalidationLifecycle(t *testing.T) {
	s, c, clk := start(t, Options{InvalidationDelay: 2 * time.Minute})
	s.CreateDistribution("EDIST")
	cx := ctx(t)
	out, err := c.CloudFront.CreateInvalidation(cx, batch("deploy-1", "/api/*", "/index.html"))
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.Invalidation.Id)
	if aws.ToString(out.Invalidation.Status) != "InProgress" || id == "" || aws.ToString(out.Location) == "" {
		t.Fatalf("created %+v location %q", out.Invalidation, aws.ToString(out.Location))
	}
	if got := out.Invalidation.InvalidationBatch.Paths.Items; !equalStrings(got, []string{"/api/*", "/index.html"}) {
		t.Fatalf("paths %v", got)
	}
	status := func() string {
		g, err := c.CloudFront.GetInvalidation(cx, &cloudfront.GetInvalidationInput{DistributionId: aws.String("EDIST"), Id: aws.String(id)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(g.Invalidation.Status)
	}
	if st := status(); st != "InProgress" {
		t.Fatalf("status before delay %s", st)
	}
	clk.Advance(time.Minute + 59*time.Second)
	if st := status(); st != "InProgress" {
		t.Fatalf("status 1s before delay %s", st)
	}
	clk.Advance(time.Second)
	if st := status(); st != "Completed" {
		t.Fatalf("status after delay %s", st)
	}
	if inv := s.Invalidations("EDIST"); len(inv) != 1 || inv[0].Status != "Completed" || inv[0].CallerReference != "deploy-1" {
		t.Fatalf("Invalidations = %+v", inv)
	}
}

func TestCloudFrontCallerReferenceIdempotency(t *testing.T) {
	s, c, _ := start(t, Options{InvalidationDelay: time.Minute})
	s.CreateDistribution("EDIST")
	first, err := c.CloudFront.CreateInvalidation(ctx(t), batch("ref", "/a"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.CloudFront.CreateInvalidation(ctx(t), batch("ref", "/a"))
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(again.Invalidation.Id) != aws.ToString(first.Invalidation.Id) {
		t.Fatalf("same reference and paths created a second invalidation")
	}
	_, err = c.CloudFront.CreateInvalidation(ctx(t), batch("ref", "/b"))
	if apiCode(err) != "InvalidationBatchAlreadyExists" {
		t.Fatalf("same reference, other paths: %v", err)
	}
	if n := len(s.Invalidations("EDIST")); n != 1 {
		t.Fatalf("%d invalidations, want 1", n)
	}
}

func TestCloudFrontErrors(t *testing.T) {
	s, c, _ := start(t, Options{})
	s.CreateDistribution("EDIST")
	_, err := c.CloudFront.CreateInvalidation(ctx(t), &cloudfront.CreateInvalidationInput{DistributionId: aws.String("ENOPE"),
		InvalidationBatch: batch("r", "/a").InvalidationBatch})
	var nsd *types.NoSuchDistribution
	if !asErr(err, &nsd) || httpStatus(err) != 404 {
		t.Fatalf("unknown distribution: %v", err)
	}
	_, err = c.CloudFront.GetInvalidation(ctx(t), &cloudfront.GetInvalidationInput{DistributionId: aws.String("EDIST"), Id: aws.String("INOPE")})
	var nsi *types.NoSuchInvalidation
	if !asErr(err, &nsi) {
		t.Fatalf("unknown invalidation: %v", err)
	}
	_, err = c.CloudFront.CreateInvalidation(ctx(t), batch("r", "no-slash"))
	var ia *types.InvalidArgument
	if !asErr(err, &ia) {
		t.Fatalf("bad path: %v", err)
	}
	// auto-created distributions (the demo)
	_, c2, _ := start(t, Options{AutoCreateDistributions: true})
	if _, err := c2.CloudFront.CreateInvalidation(ctx(t), batch("r", "/a")); err != nil {
		t.Fatalf("auto-created distribution: %v", err)
	}
}

func TestCloudFrontListInvalidations(t *testing.T) {
	s, c, clk := start(t, Options{InvalidationDelay: time.Minute})
	s.CreateDistribution("EDIST")
	var ids []string
	for _, ref := range []string{"r1", "r2", "r3", "r4", "r5"} {
		out, err := c.CloudFront.CreateInvalidation(ctx(t), batch(ref, "/"+ref))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, aws.ToString(out.Invalidation.Id))
		clk.Advance(30 * time.Second)
	}
	var got []string
	var statuses []string
	p := cloudfront.NewListInvalidationsPaginator(c.CloudFront, &cloudfront.ListInvalidationsInput{DistributionId: aws.String("EDIST"), MaxItems: aws.Int32(2)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range out.InvalidationList.Items {
			got = append(got, aws.ToString(it.Id))
			statuses = append(statuses, aws.ToString(it.Status))
		}
	}
	want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]} // newest first
	if !equalStrings(got, want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
	if wantSt := []string{"InProgress", "Completed", "Completed", "Completed", "Completed"}; !equalStrings(statuses, wantSt) {
		t.Fatalf("statuses %v, want %v", statuses, wantSt)
	}
}
