package serve

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"
)

// scramTry is what a hand-driven client sends: the mechanism, the GS2 header
// of its client-first message and the channel binding data it appends to
// that header in c=.
type scramTry struct {
	mechanism string
	gs2       string
	binding   []byte
}

// scramResult is what the server answered to a scramTry.
type scramResult struct {
	offered []string                // the mechanisms in AuthenticationSASL
	peer    *x509.Certificate       // the server's certificate, over TLS
	refused *pgproto3.ErrorResponse // nil when authentication succeeded
}

// rawSCRAM authenticates as testUser by hand over pgproto3, over TLS or
// not, sending whatever choose returns for the offered mechanisms and the
// server's certificate. Its proof is right for the c= it sends, so a refusal
// is about the channel binding, never the password.
func rawSCRAM(t *testing.T, ts *testServer, overTLS bool, choose func(offered []string, peer *x509.Certificate) scramTry) scramResult {
	t.Helper()
	raw, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(30 * time.Second))
	var conn net.Conn = raw
	var res scramResult
	fe := pgproto3.NewFrontend(conn, conn)
	if overTLS {
		fe.Send(&pgproto3.SSLRequest{})
		if err := fe.Flush(); err != nil {
			t.Fatal(err)
		}
		answer := make([]byte, 1)
		if _, err := conn.Read(answer); err != nil || answer[0] != 'S' {
			t.Fatalf("SSLRequest answered %q, %v", answer, err)
		}
		tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true})
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		res.peer = tc.ConnectionState().PeerCertificates[0]
		conn = tc
		fe = pgproto3.NewFrontend(conn, conn)
	}
	fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30,
		Parameters: map[string]string{"user": testUser, "database": catalogName}})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	// receive returns the next message, or records the server's refusal.
	receive := func() pgproto3.BackendMessage {
		t.Helper()
		msg, err := fe.Receive()
		if err != nil {
			t.Fatal(err)
		}
		if e, ok := msg.(*pgproto3.ErrorResponse); ok {
			copied := *e
			res.refused = &copied
			return nil
		}
		return msg
	}
	sasl, ok := receive().(*pgproto3.AuthenticationSASL)
	if !ok {
		t.Fatalf("no SASL challenge: %+v", res.refused)
	}
	res.offered = slices.Clone(sasl.AuthMechanisms)
	try := choose(res.offered, res.peer)
	clientFirstBare := "n=,r=" + base64.StdEncoding.EncodeToString([]byte("raw client nonce"))
	fe.Send(&pgproto3.SASLInitialResponse{AuthMechanism: try.mechanism, Data: []byte(try.gs2 + clientFirstBare)})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	msg := receive()
	if msg == nil {
		return res
	}
	serverFirst := string(msg.(*pgproto3.AuthenticationSASLContinue).Data)
	attrs := map[string]string{}
	for _, kv := range strings.Split(serverFirst, ",") {
		attrs[kv[:1]] = kv[2:]
	}
	salt, _ := base64.StdEncoding.DecodeString(attrs["s"])
	iterations, _ := strconv.Atoi(attrs["i"])
	salted, err := pbkdf2.Key(sha256.New, testPassword, salt, iterations, sha256.Size)
	if err != nil {
		t.Fatal(err)
	}
	clientKey := hmacSHA256(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	withoutProof := "c=" + base64.StdEncoding.EncodeToString(append([]byte(try.gs2), try.binding...)) + ",r=" + attrs["r"]
	authMessage := clientFirstBare + "," + serverFirst + "," + withoutProof
	proof := hmacSHA256(storedKey[:], authMessage)
	for i := range proof {
		proof[i] ^= clientKey[i]
	}
	fe.Send(&pgproto3.SASLResponse{Data: []byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof))})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	if msg := receive(); msg == nil {
		return res
	} else if final, ok := msg.(*pgproto3.AuthenticationSASLFinal); !ok {
		t.Fatalf("got %T, want the SCRAM server-final message", msg)
	} else if want := "v=" + base64.StdEncoding.EncodeToString(hmacSHA256(hmacSHA256(salted, "Server Key"), authMessage)); string(final.Data) != want {
		t.Fatalf("server signature %q, want %q", final.Data, want)
	}
	if msg := receive(); msg == nil {
		return res
	} else if _, ok := msg.(*pgproto3.AuthenticationOk); !ok {
		t.Fatalf("got %T, want AuthenticationOk", msg)
	}
	return res
}

func TestChannelBinding(t *testing.T) {
	t.Parallel()
	ts := startServer(t, withTLS(t, false))
	const plusHeader = "p=tls-server-end-point,,"
	// The certificate is ECDSA with SHA-256, so the binding data is its SHA-256.
	endPoint := func(peer *x509.Certificate) []byte {
		if peer.SignatureAlgorithm != x509.ECDSAWithSHA256 {
			t.Fatalf("test certificate signed with %v, want ECDSA-SHA256", peer.SignatureAlgorithm)
		}
		sum := sha256.Sum256(peer.Raw)
		return sum[:]
	}
	tampered := func(peer *x509.Certificate) []byte {
		b := endPoint(peer)
		b[0] ^= 1
		return b
	}
	cases := []struct {
		name      string
		overTLS   bool
		try       func(peer *x509.Certificate) scramTry
		code      string // "" when the client authenticates
		message   string
		detail    string
		mechsWant []string
	}{
		{"bound to the certificate", true,
			func(peer *x509.Certificate) scramTry { return scramTry{scramPlusMechanism, plusHeader, endPoint(peer)} },
			"", "", "", []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"}},
		{"tampered binding data", true,
			func(peer *x509.Certificate) scramTry { return scramTry{scramPlusMechanism, plusHeader, tampered(peer)} },
			codeInvalidAuthSpec, "SCRAM channel binding check failed", "", nil},
		{"no binding data after the header", true,
			func(*x509.Certificate) scramTry { return scramTry{scramPlusMechanism, plusHeader, nil} },
			codeInvalidAuthSpec, "SCRAM channel binding check failed", "", nil},
		{"another binding type", true,
			func(peer *x509.Certificate) scramTry {
				return scramTry{scramPlusMechanism, "p=tls-unique,,", endPoint(peer)}
			},
			codeProtocolViolation, `unsupported SCRAM channel-binding type "tls-unique"`, "", nil},
		{"PLUS without binding", true,
			func(*x509.Certificate) scramTry { return scramTry{scramPlusMechanism, "n,,", nil} },
			codeProtocolViolation, "malformed SCRAM message",
			"The client selected SCRAM-SHA-256-PLUS, but the SCRAM message does not include channel binding data.", nil},
		{"binding data with plain SCRAM", true,
			func(peer *x509.Certificate) scramTry { return scramTry{scramMechanism, plusHeader, endPoint(peer)} },
			codeProtocolViolation, "malformed SCRAM message",
			"The client selected SCRAM-SHA-256 without channel binding, but the SCRAM message includes channel binding data.", nil},
		{"downgrade over TLS", true,
			func(*x509.Certificate) scramTry { return scramTry{scramMechanism, "y,,", nil} },
			codeInvalidAuthSpec, "SCRAM channel binding negotiation error",
			"The client supports SCRAM channel binding but thinks the server does not.  However, this server does support channel binding.", nil},
		{"no binding over TLS (channel_binding=disable)", true,
			func(*x509.Certificate) scramTry { return scramTry{scramMechanism, "n,,", nil} },
			"", "", "", nil},
		{"without TLS", false,
			func(*x509.Certificate) scramTry { return scramTry{scramMechanism, "y,,", nil} },
			"", "", "", []string{"SCRAM-SHA-256"}},
		{"PLUS without TLS", false,
			func(*x509.Certificate) scramTry { return scramTry{scramPlusMechanism, plusHeader, make([]byte, 32)} },
			codeProtocolViolation, "client selected an invalid SASL authentication mechanism", "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := rawSCRAM(t, ts, c.overTLS, func(_ []string, peer *x509.Certificate) scramTry { return c.try(peer) })
			if c.mechsWant != nil && !slices.Equal(res.offered, c.mechsWant) {
				t.Errorf("offered %v, want %v", res.offered, c.mechsWant)
			}
			if c.code == "" {
				if res.refused != nil {
					t.Fatalf("refused: %s %s (%s)", res.refused.Code, res.refused.Message, res.refused.Detail)
				}
				return
			}
			if res.refused == nil {
				t.Fatalf("authenticated; want %s %q", c.code, c.message)
			}
			if e := res.refused; e.Severity != "FATAL" || e.Code != c.code || e.Message != c.message || e.Detail != c.detail {
				t.Errorf("refused with %s %s %q (%q), want FATAL %s %q (%q)", e.Severity, e.Code, e.Message, e.Detail, c.code, c.message, c.detail)
			}
		})
	}
}

// TestChannelBindingWithPgx connects pgx, whose client side of
// tls-server-end-point is its own, with channel_binding=require: to a
// certificate signed with SHA-256 and to one signed with SHA-384, whose
// binding data is a SHA-384 hash.
func TestChannelBindingWithPgx(t *testing.T) {
	t.Parallel()
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := writeCert(t, p384)
	if alg := readCert(t, certFile).SignatureAlgorithm; alg != x509.ECDSAWithSHA384 {
		t.Fatalf("P-384 certificate signed with %v, want ECDSA-SHA384", alg)
	}
	for name, option := range map[string]serverOption{
		"sha256": withTLS(t, false),
		"sha384": withCert(certFile, keyFile, false),
	} {
		t.Run(name, func(t *testing.T) {
			ts := startServer(t, option)
			conn := connectWith(t, ts.url("sslmode=require channel_binding=require"))
			var n int
			if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM rfm").Scan(&n); err != nil || n != 1000 {
				t.Errorf("count over a bound connection = %d, %v; want 1000", n, err)
			}
			_, err := pgx.Connect(context.Background(), ts.url("sslmode=disable channel_binding=require"))
			if err == nil || !strings.Contains(err.Error(), "channel binding required but server does not support SCRAM-SHA-256-PLUS") {
				t.Errorf("pgx without TLS, channel_binding=require: %v; want refused", err)
			}
		})
	}
}

// An Ed25519 certificate defines no tls-server-end-point data (RFC 5929
// 4.1): the server offers SCRAM-SHA-256 only, and clients that prefer
// binding still connect.
func TestChannelBindingUndefinedForEd25519(t *testing.T) {
	t.Parallel()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := writeCert(t, key)
	ts := startServer(t, withCert(certFile, keyFile, false))
	res := rawSCRAM(t, ts, true, func([]string, *x509.Certificate) scramTry { return scramTry{scramMechanism, "y,,", nil} })
	if !slices.Equal(res.offered, []string{scramMechanism}) || res.refused != nil {
		t.Errorf("Ed25519 certificate: offered %v, refused %+v; want SCRAM-SHA-256 only, accepted", res.offered, res.refused)
	}
	conn := connectWith(t, ts.url("sslmode=require channel_binding=prefer"))
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT 1").Scan(&n); err != nil || n != 1 {
		t.Errorf("SELECT 1 = %d, %v", n, err)
	}
}

func TestTLSServerEndPointHash(t *testing.T) {
	t.Parallel()
	raw := []byte("certificate DER")
	sha256Sum, sha384Sum, sha512Sum := sha256.Sum256(raw), sha512.Sum384(raw), sha512.Sum512(raw)
	for _, c := range []struct {
		alg  x509.SignatureAlgorithm
		want []byte
	}{
		{x509.MD5WithRSA, sha256Sum[:]}, // MD5 and SHA-1 are replaced by SHA-256
		{x509.SHA1WithRSA, sha256Sum[:]},
		{x509.ECDSAWithSHA1, sha256Sum[:]},
		{x509.SHA256WithRSA, sha256Sum[:]},
		{x509.ECDSAWithSHA256, sha256Sum[:]},
		{x509.SHA384WithRSAPSS, sha384Sum[:]},
		{x509.ECDSAWithSHA384, sha384Sum[:]},
		{x509.SHA512WithRSA, sha512Sum[:]},
		{x509.PureEd25519, nil},
	} {
		got, err := tlsServerEndPoint(&x509.Certificate{Raw: raw, SignatureAlgorithm: c.alg})
		if !bytes.Equal(got, c.want) || (err == nil) != (c.want != nil) {
			t.Errorf("%v: %x, %v; want %x", c.alg, got, err, c.want)
		}
	}
}

func readCert(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}
