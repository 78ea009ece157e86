package awssim

import (
	"encoding/xml"
	"net/url"
	"regexp"
	"time"
)

// STS AssumeRole (the query protocol), for targets with a role_arn: any
// well-formed role ARN may be assumed, unless Deny("sts:AssumeRole").

const stsXMLNS = "https://sts.amazonaws.com/doc/2011-06-15/"

var roleARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$`)

type stsAssumeRoleResponse struct {
	XMLName     xml.Name `xml:"AssumeRoleResponse"`
	Xmlns       string   `xml:"xmlns,attr"`
	AccessKeyID string   `xml:"AssumeRoleResult>Credentials>AccessKeyId"`
	Secret      string   `xml:"AssumeRoleResult>Credentials>SecretAccessKey"`
	Token       string   `xml:"AssumeRoleResult>Credentials>SessionToken"`
	Expiration  string   `xml:"AssumeRoleResult>Credentials>Expiration"`
	UserARN     string   `xml:"AssumeRoleResult>AssumedRoleUser>Arn"`
	UserID      string   `xml:"AssumeRoleResult>AssumedRoleUser>AssumedRoleId"`
	Meta        snsMeta  `xml:"ResponseMetadata"`
}

// stsRoute answers the STS actions of a query-protocol request, if it is one.
func (s *Sim) stsRoute(form url.Values) (route, bool) {
	if form.Get("Action") != "AssumeRole" || form.Get("Version") != "2011-06-15" {
		return route{}, false
	}
	return route{service: "sts", api: "AssumeRole", h: func(req *request) (*response, *apiError) { return s.stsAssumeRole(req, form) }}, true
}

func (s *Sim) stsAssumeRole(req *request, form url.Values) (*response, *apiError) {
	role, session := form.Get("RoleArn"), form.Get("RoleSessionName")
	req.params["RoleArn"], req.params["RoleSessionName"], req.params["ExternalId"] = role, session, form.Get("ExternalId")
	if !roleARNRE.MatchString(role) || session == "" {
		return nil, &apiError{status: 400, code: "ValidationError", message: "1 validation error detected: Value at 'roleArn' failed to satisfy constraint"}
	}
	id := newRequestID()
	return xmlResponse(200, stsAssumeRoleResponse{Xmlns: stsXMLNS, AccessKeyID: "ASIASIM" + id[:8], Secret: "sim-secret-" + id,
		Token: "sim-token-" + id, Expiration: s.clock.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		UserARN: role + "/" + session, UserID: "AROASIM:" + session, Meta: snsMeta{RequestID: id}}, nil)
}
