package deploy_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// implied are permissions no SDK call names but AWS checks on canaryd's
// behalf: reading a KMS-encrypted config object or SecureString parameter.
var implied = map[string]string{
	"kms:Decrypt": "S3 and SSM decrypt a KMS-encrypted config for canaryd",
}

// TestIAMPolicyAgreesWithTheCode: the README's policy and the Terraform
// task role grant exactly the AWS actions canaryd's code calls (plus the
// implied ones): adding an SDK call without its permission, or granting
// one nothing calls, fails here and names the call.
func TestIAMPolicyAgreesWithTheCode(t *testing.T) {
	code := awsActions(t, "./...")
	if len(code) < 5 {
		t.Fatalf("the scan found only %v: it is broken", code)
	}
	docs := map[string]map[string]bool{
		"README.md (Running against real AWS)":                        readmePolicyActions(t),
		"deploy/terraform/iam.tf (data aws_iam_policy_document.task)": terraformTaskActions(t),
	}
	for where, granted := range docs {
		for _, a := range sortedKeys(code) {
			if !granted[a] {
				t.Errorf("%s does not grant %s, which the code calls (%s)", where, a, code[a])
			}
		}
		for _, a := range sortedKeys(granted) {
			if _, called := code[a]; !called && implied[a] == "" {
				t.Errorf("%s grants %s, which no code calls: remove it, or say in implied why it is needed", where, a)
			}
		}
	}
	t.Logf("AWS actions the code calls: %v", code)
}

// readmePolicyActions parses the JSON policy under "Least-privilege IAM
// policy" in the README.
func readmePolicyActions(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "Least-privilege IAM policy")
	if i < 0 {
		t.Fatal("README has no \"Least-privilege IAM policy\"")
	}
	s = s[i:]
	start := strings.Index(s, "```json\n")
	end := strings.Index(s[start+8:], "```")
	if start < 0 || end < 0 {
		t.Fatal("no ```json block after \"Least-privilege IAM policy\"")
	}
	var doc struct {
		Statement []struct {
			Effect string
			Action json.RawMessage
		}
	}
	if err := json.Unmarshal([]byte(s[start+8:start+8+end]), &doc); err != nil {
		t.Fatalf("the README's IAM policy is not valid JSON: %v", err)
	}
	out := map[string]bool{}
	for _, st := range doc.Statement {
		if st.Effect != "Allow" {
			continue
		}
		var one string
		var many []string
		if json.Unmarshal(st.Action, &one) == nil {
			many = []string{one}
		} else if err := json.Unmarshal(st.Action, &many); err != nil {
			t.Fatalf("README policy Action %s: %v", st.Action, err)
		}
		for _, a := range many {
			out[a] = true
		}
	}
	return out
}

var iamAction = regexp.MustCompile(`"([a-z0-9-]+:[A-Z][A-Za-z]+)"`)

// terraformTaskActions reads the actions of the task role's policy
// document in iam.tf.
func terraformTaskActions(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("terraform/iam.tf")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start := strings.Index(s, `data "aws_iam_policy_document" "task" {`)
	if start < 0 {
		t.Fatal(`iam.tf has no data "aws_iam_policy_document" "task"`)
	}
	s = s[start:]
	if end := strings.Index(s, "\nresource "); end > 0 {
		s = s[:end]
	}
	out := map[string]bool{}
	for _, m := range iamAction.FindAllStringSubmatch(s, -1) {
		out[m[1]] = true
	}
	return out
}
