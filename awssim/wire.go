package awssim

import (
	"encoding/json"
	"encoding/xml"
	"net/http"

	"github.com/aws/smithy-go/encoding/cbor"
)

// writeLambdaError writes a REST-JSON error as Lambda does: the code in
// X-Amzn-Errortype and a JSON body with Type and message.
func writeLambdaError(w http.ResponseWriter, e *apiError) {
	body := map[string]string{"Type": "User", "message": e.message}
	if e.status >= 500 {
		body["Type"] = "Service"
	}
	if e.reason != "" {
		body["Reason"] = e.reason
	}
	if e.retryAfter != "" {
		w.Header().Set("Retry-After", e.retryAfter)
	}
	b, _ := json.Marshal(body)
	w.Header().Set("X-Amzn-Errortype", e.code)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
}

// writeCBORError writes an RPCv2 CBOR error: {"__type", "message"} plus the
// awsQueryCompatible X-Amzn-Query-Error header CloudWatch sends.
func writeCBORError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("Content-Type", "application/cbor")
	if e.queryCode != "" {
		w.Header().Set("X-Amzn-Query-Error", e.queryCode+";"+e.fault)
	}
	w.WriteHeader(e.status)
	_, _ = w.Write(cbor.Encode(cbor.Map{"__type": cbor.String(e.code), "message": cbor.String(e.message)}))
}

type xmlErrorResponse struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Xmlns     string   `xml:"xmlns,attr,omitempty"`
	Type      string   `xml:"Error>Type"`
	Code      string   `xml:"Error>Code"`
	Message   string   `xml:"Error>Message"`
	RequestID string   `xml:"RequestId"`
}

// writeXMLError writes the ErrorResponse shape shared by REST-XML
// (CloudFront) and the query protocol (SNS).
func writeXMLError(w http.ResponseWriter, e *apiError) {
	b, _ := xml.Marshal(xmlErrorResponse{Type: e.fault, Code: e.code, Message: e.message, RequestID: newRequestID()})
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(e.status)
	_, _ = w.Write(append([]byte(xml.Header), b...))
}

func jsonResponse(status int, v any) (*response, *apiError) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, &apiError{status: 500, code: "ServiceException", message: err.Error()}
	}
	return &response{status: status, ctype: "application/json", body: b}, nil
}

func xmlResponse(status int, v any, header map[string]string) (*response, *apiError) {
	b, err := xml.Marshal(v)
	if err != nil {
		return nil, &apiError{status: 500, code: "InternalFailure", message: err.Error()}
	}
	return &response{status: status, ctype: "text/xml", header: header, body: append([]byte(xml.Header), b...)}, nil
}
