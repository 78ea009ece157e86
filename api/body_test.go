package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHugeBodyGets413 is issue #13 item 9: a 10 MB body on a real
// listener is answered 413 with a JSON error, not a connection reset.
func TestHugeBodyGets413(t *testing.T) {
	cases := []struct {
		name, token string
		status      int
	}{
		{"with the token", testToken, http.StatusRequestEntityTooLarge},
		{"without the token", "", http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			url, _ := serve(t, h.srv, "", "")
			body := `{"target":"checkout","reason":"` + strings.Repeat("x", 10<<20) + `"}`
			for _, client := range []string{"go", "go-expect-continue", "raw"} {
				resp, err := post(t, client, url, tc.token, []byte(body))
				if err != nil {
					t.Fatalf("%s client, 10 MB body: %v, want a %d answer", client, err, tc.status)
				}
				checkError(t, resp, tc.status)
			}
			if n := h.ctl.TotalCalls(); n != 0 {
				t.Errorf("controller called %d times", n)
			}
		})
	}
}

func post(t *testing.T, client, url, token string, body []byte) (*http.Response, error) {
	if client == "raw" {
		return rawPost(t, url, "/v1/rollback", token, body)
	}
	req, err := http.NewRequest("POST", url+"/v1/rollback", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	tr := &http.Transport{}
	if client == "go-expect-continue" {
		req.Header.Set("Expect", "100-continue")
		tr.ExpectContinueTimeout = 10 * time.Second
	}
	t.Cleanup(tr.CloseIdleConnections)
	return (&http.Client{Timeout: 30 * time.Second, Transport: tr}).Do(req)
}

func checkError(t *testing.T, resp *http.Response, status int) {
	t.Helper()
	defer resp.Body.Close()
	var eb ErrorBody
	if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil || resp.StatusCode != status || eb.Error == "" {
		t.Fatalf("status %d, error body %+v (%v); want %d with a JSON error", resp.StatusCode, eb, err, status)
	}
}

// rawPost writes a whole request — headers and body — before reading the
// answer, as simple clients (and many scripts) do.
func rawPost(t *testing.T, url, path, token string, body []byte) (*http.Response, error) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	hdr := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: canaryd\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", path, len(body))
	if token != "" {
		hdr += "Authorization: Bearer " + token + "\r\n"
	}
	if _, err := conn.Write(append([]byte(hdr+"\r\n"), body...)); err != nil {
		return nil, fmt.Errorf("write: %w", err)
	}
	return http.ReadResponse(bufio.NewReader(conn), nil)
}

// TestRefusedExpectContinueIsAnsweredAtOnce: a client waiting for "100
// Continue" before sending its body gets the refusal without sending it;
// nothing waits for a body that never comes.
func TestRefusedExpectContinueIsAnsweredAtOnce(t *testing.T) {
	h := newHarness(t)
	url, _ := serve(t, h.srv, "", "")
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	req := fmt.Sprintf("POST /v1/rollback HTTP/1.1\r\nHost: canaryd\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", 10<<20)
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer before the body: %v", err)
	}
	checkError(t, resp, http.StatusUnauthorized)
}
