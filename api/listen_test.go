package api

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// serve runs Serve on a loopback listener and returns its URL and a stop
// function that cancels the context and returns Serve's result.
func serve(t *testing.T, s *Server, cert, key string) (string, func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln, cert, key) }()
	stopped := false
	var result error
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case result = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Serve did not return after its context ended")
			}
		}
		return result
	}
	t.Cleanup(func() { stop() })
	scheme := "http"
	if cert != "" {
		scheme = "https"
	}
	return scheme + "://" + ln.Addr().String(), stop
}

func TestServeShutsDownWhenContextEnds(t *testing.T) {
	h := newHarness(t)
	url, stop := serve(t, h.srv, "", "")
	c := NewClient(url, testToken, &http.Client{Timeout: 10 * time.Second})
	if _, err := c.Status(t.Context()); err != nil {
		t.Fatalf("status over a real listener: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatalf("Serve returned %v after a clean shutdown", err)
	}
	if err := c.Health(t.Context()); err == nil {
		t.Fatal("still serving after shutdown")
	}
}

func TestServeTLS(t *testing.T) {
	h := newHarness(t)
	certFile, keyFile, pool := selfSigned(t)
	url, stop := serve(t, h.srv, certFile, keyFile)
	tlsClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	st, err := NewClient(url, testToken, tlsClient).Status(t.Context())
	if err != nil || len(st.Targets) == 0 {
		t.Fatalf("status over TLS: %v %+v", err, st)
	}
	// Plain HTTP to the TLS port gets nowhere near the handlers.
	plain := NewClient("http"+url[len("https"):], testToken, &http.Client{Timeout: 10 * time.Second})
	if _, err := plain.Status(t.Context()); err == nil {
		t.Fatal("plain HTTP accepted on the TLS listener")
	}
	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

func TestServeNeedsCertAndKey(t *testing.T) {
	h := newHarness(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.srv.Serve(t.Context(), ln, "cert.pem", ""); err == nil {
		t.Fatal("a cert without a key was accepted")
	}
	if err := h.srv.ListenAndServe(t.Context(), "256.0.0.1:1", "", ""); err == nil {
		t.Fatal("a bad address was accepted")
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "canaryd test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
