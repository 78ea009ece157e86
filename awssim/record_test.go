package awssim

import (
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

func TestCallLogLimit(t *testing.T) {
	cases := []struct {
		name  string
		limit int
		want  []string // Qualifier of the GetFunctionConfiguration calls still logged, oldest first
	}{
		{"unbounded by default", 0, []string{"1", "2", "3", "4", "5"}},
		{"newest calls kept", 2, []string{"4", "5"}},
		{"limit not reached", 10, []string{"1", "2", "3", "4", "5"}},
		{"no call log", NoCallLog, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, c, _ := start(t, Options{CallLogLimit: tc.limit})
			s.CreateFunction("fn")
			for range 5 {
				s.PublishVersion("fn")
			}
			for _, q := range []string{"1", "2", "3", "4", "5"} {
				if _, err := c.Lambda.GetFunctionConfiguration(ctx(t), &lambda.GetFunctionConfigurationInput{
					FunctionName: aws.String("fn"), Qualifier: aws.String(q)}); err != nil {
					t.Fatal(err)
				}
			}
			var got []string
			for _, call := range s.Calls("GetFunctionConfiguration") {
				got = append(got, call.Params["Qualifier"].(string))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("logged calls %v, want %v", got, tc.want)
			}
			if n := s.CallCount("GetFunctionConfiguration"); n != 5 {
				t.Errorf("CallCount = %d, want 5 whatever the log keeps", n)
			}
			if n := s.CallCount(""); n != 5 {
				t.Errorf("CallCount(\"\") = %d, want 5", n)
			}
			s.ResetCalls()
			if n, l := s.CallCount(""), len(s.Calls("")); n != 0 || l != 0 {
				t.Errorf("after ResetCalls: CallCount %d, %d logged, want 0 and 0", n, l)
			}
		})
	}
}
