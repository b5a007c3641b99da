package serve

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// writeSelfSignedCert writes a certificate for 127.0.0.1 and its key, an
// ECDSA P-256 key, so the certificate is signed with ECDSA and SHA-256.
func writeSelfSignedCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return writeCert(t, key)
}

// writeCert writes a self-signed certificate for 127.0.0.1 signed by key,
// with Go's default signature algorithm for that key, and the key.
func writeCert(t *testing.T, key crypto.Signer) (certFile, keyFile string) {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "custmart test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func withTLS(t *testing.T, require bool) serverOption {
	certFile, keyFile := writeSelfSignedCert(t)
	return withCert(certFile, keyFile, require)
}

func withCert(certFile, keyFile string, require bool) serverOption {
	return func(o *Options) {
		o.TLSCertFile, o.TLSKeyFile, o.RequireTLS = certFile, keyFile, require
	}
}

func TestTLSRequired(t *testing.T) {
	t.Parallel()
	ts := startServer(t, withTLS(t, true))
	ctx := context.Background()
	conn := connectWith(t, ts.url("sslmode=require"))
	var ssl string
	if err := conn.QueryRow(ctx, "SHOW ssl").Scan(&ssl); err != nil || ssl != "on" {
		t.Errorf("SHOW ssl = %q, %v; want on", ssl, err)
	}
	_, err := pgx.Connect(ctx, ts.url(""))
	assertCode(t, err, codeInvalidAuthSpec)
}

func TestTLSOptional(t *testing.T) {
	t.Parallel()
	ts := startServer(t, withTLS(t, false))
	for _, mode := range []string{"sslmode=disable", "sslmode=require", "sslmode=prefer"} {
		conn := connectWith(t, ts.url(mode))
		var n int
		if err := conn.QueryRow(context.Background(), "SELECT 1").Scan(&n); err != nil {
			t.Errorf("%s: %v", mode, err)
		}
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	verifier, err := HashPassword("hashed secret")
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, func(o *Options) {
		o.Users = append(o.Users, User{Name: "hashed", SCRAMVerifier: verifier})
	})
	ctx := context.Background()
	host, port := ts.host()
	url := func(user, password string) string {
		return "host=" + host + " port=" + port + " user=" + user + " password='" + password + "' dbname=custmart sslmode=disable"
	}
	connectWith(t, url("hashed", "hashed secret"))
	for _, c := range []struct{ user, password string }{
		{testUser, "wrong"},
		{"hashed", "wrong"},
		{"nobody", testPassword},
	} {
		_, err := pgx.Connect(ctx, url(c.user, c.password))
		assertCode(t, err, codeInvalidPassword)
	}
	_, err = pgx.Connect(ctx, ts.url("dbname=postgres"))
	assertCode(t, err, codeInvalidCatalogName)
}

// TestSCRAMMatchesRFC7677 checks the server's SCRAM computation against the
// example exchange of RFC 7677 (user "user", password "pencil").
func TestSCRAMMatchesRFC7677(t *testing.T) {
	t.Parallel()
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	secret, err := deriveSecret("pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	x := &scramExchange{
		secret:          secret,
		gs2Header:       "n,,",
		clientFirstBare: "n=user,r=rOprNGfwEbeRWgbNEkqO",
		nonce:           "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
		serverFirst:     "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
	}
	final, err := x.finish([]byte("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
	if err != nil {
		t.Fatal(err)
	}
	if final != "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=" {
		t.Errorf("server-final = %q, want RFC 7677's", final)
	}
	// The verifier format round-trips.
	parsed, err := parseVerifier(secret.String())
	if err != nil || parsed.String() != secret.String() {
		t.Errorf("verifier round trip: %v, %v", parsed, err)
	}
	if _, err := parseVerifier("md5abcdef"); err == nil {
		t.Error("an md5 hash parsed as a SCRAM verifier")
	}
}
