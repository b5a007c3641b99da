package serve

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL speaks it: the user name
// comes from the startup message, not from the SCRAM exchange, and over TLS
// SCRAM-SHA-256-PLUS binds the exchange to the server certificate
// (tls-server-end-point, RFC 5929), so a man in the middle holding another
// certificate cannot relay it.

const (
	scramMechanism     = "SCRAM-SHA-256"
	scramPlusMechanism = "SCRAM-SHA-256-PLUS"
	scramBindingType   = "tls-server-end-point"
	scramIterations    = 4096 // PostgreSQL's default scram_iterations
	scramSaltLen       = 16
)

// scramSecret is what the server stores for a user: never the password.
type scramSecret struct {
	iterations int
	salt       []byte
	storedKey  []byte
	serverKey  []byte
}

// HashPassword returns a SCRAM-SHA-256 verifier for password in PostgreSQL's
// format, "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>", for
// configuration files that must not hold the password itself.
func HashPassword(password string) (string, error) {
	salt := make([]byte, scramSaltLen)
	rand.Read(salt) // crypto/rand.Read never fails
	secret, err := deriveSecret(password, salt, scramIterations)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return secret.String(), nil
}

func (s scramSecret) String() string {
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("%s$%d:%s$%s:%s", scramMechanism, s.iterations, b64(s.salt), b64(s.storedKey), b64(s.serverKey))
}

func deriveSecret(password string, salt []byte, iterations int) (scramSecret, error) {
	salted, err := pbkdf2.Key(sha256.New, saslPrep(password), salt, iterations, sha256.Size)
	if err != nil {
		return scramSecret{}, fmt.Errorf("derive scram key: %w", err)
	}
	clientKey := hmacSHA256(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	return scramSecret{
		iterations: iterations,
		salt:       salt,
		storedKey:  storedKey[:],
		serverKey:  hmacSHA256(salted, "Server Key"),
	}, nil
}

// saslPrep normalizes a password like libpq does before hashing. ASCII
// passwords are unchanged; others get NFKC normalization with non-ASCII
// spaces mapped to a space, the parts of SASLprep that matter in practice.
func saslPrep(password string) string {
	ascii := true
	for i := 0; i < len(password); i++ {
		if password[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return password
	}
	mapped := strings.Map(func(r rune) rune {
		if r != ' ' && unicode.Is(unicode.Zs, r) {
			return ' '
		}
		return r
	}, password)
	return norm.NFKC.String(mapped)
}

// parseVerifier reads a verifier written by HashPassword or by PostgreSQL.
func parseVerifier(v string) (scramSecret, error) {
	bad := func(what string) (scramSecret, error) {
		return scramSecret{}, fmt.Errorf("parse scram verifier: %s; want SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey> as printed by custmart's password hashing", what)
	}
	parts := strings.Split(v, "$")
	if len(parts) != 3 || parts[0] != scramMechanism {
		return bad("not a SCRAM-SHA-256 verifier")
	}
	iterSalt := strings.SplitN(parts[1], ":", 2)
	keys := strings.SplitN(parts[2], ":", 2)
	if len(iterSalt) != 2 || len(keys) != 2 {
		return bad("missing ':'")
	}
	iterations, err := strconv.Atoi(iterSalt[0])
	if err != nil || iterations < 1 {
		return bad(fmt.Sprintf("bad iteration count %q", iterSalt[0]))
	}
	dec := base64.StdEncoding.DecodeString
	salt, err1 := dec(iterSalt[1])
	stored, err2 := dec(keys[0])
	server, err3 := dec(keys[1])
	if err := errors.Join(err1, err2, err3); err != nil {
		return bad("bad base64: " + err.Error())
	}
	if len(stored) != sha256.Size || len(server) != sha256.Size {
		return bad("keys must be 32 bytes")
	}
	return scramSecret{iterations: iterations, salt: salt, storedKey: stored, serverKey: server}, nil
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// tlsServerEndPoint is the tls-server-end-point channel binding data of
// cert (RFC 5929 section 4.1): its hash by the hash function of its
// signature algorithm, SHA-256 when that is MD5 or SHA-1. It is undefined for
// signatures without a hash function, such as Ed25519.
func tlsServerEndPoint(cert *x509.Certificate) ([]byte, error) {
	var h hash.Hash
	switch cert.SignatureAlgorithm {
	case x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1,
		x509.SHA256WithRSA, x509.SHA256WithRSAPSS, x509.DSAWithSHA256, x509.ECDSAWithSHA256:
		h = sha256.New()
	case x509.SHA384WithRSA, x509.SHA384WithRSAPSS, x509.ECDSAWithSHA384:
		h = sha512.New384()
	case x509.SHA512WithRSA, x509.SHA512WithRSAPSS, x509.ECDSAWithSHA512:
		h = sha512.New()
	default:
		return nil, fmt.Errorf("%s channel binding is undefined for certificates signed with %v", scramBindingType, cert.SignatureAlgorithm)
	}
	h.Write(cert.Raw)
	return h.Sum(nil), nil
}

// scramExchange is the server side of one authentication.
type scramExchange struct {
	secret scramSecret
	// canBind says the server offered SCRAM-SHA-256-PLUS on this connection;
	// binding is the certificate's tls-server-end-point data when the client
	// chose it, nil for SCRAM-SHA-256.
	canBind         bool
	binding         []byte
	gs2Header       string
	clientFirstBare string
	serverFirst     string
	nonce           string
}

// malformedSCRAM is PostgreSQL's error for a SCRAM message it cannot accept.
func malformedSCRAM(detail string) *pgError {
	e := newFatal(codeProtocolViolation, "malformed SCRAM message")
	e.Detail = detail
	return e
}

// start reads the client-first message and returns the server-first one.
// Its GS2 header says whether the client binds to the channel: "n" (it
// cannot), "y" (it could, but thinks the server cannot) or
// "p=tls-server-end-point" (it does); each must agree with the mechanism the
// client chose, and "y" where the server offered binding is a downgrade.
func (x *scramExchange) start(clientFirst []byte) (string, error) {
	msg := string(clientFirst)
	flag, rest, ok1 := strings.Cut(msg, ",")
	authzid, bare, ok2 := strings.Cut(rest, ",")
	if !ok1 || !ok2 {
		return "", malformedSCRAM("The client-first message has no GS2 header.")
	}
	if authzid != "" {
		return "", malformedSCRAM("client uses authorization identity, but it is not supported")
	}
	const noBindingData = "The client selected SCRAM-SHA-256-PLUS, but the SCRAM message does not include channel binding data."
	switch {
	case flag == "n":
		if x.binding != nil {
			return "", malformedSCRAM(noBindingData)
		}
	case flag == "y":
		if x.binding != nil {
			return "", malformedSCRAM(noBindingData)
		}
		if x.canBind {
			e := newFatal(codeInvalidAuthSpec, "SCRAM channel binding negotiation error")
			e.Detail = "The client supports SCRAM channel binding but thinks the server does not.  However, this server does support channel binding."
			return "", e
		}
	case strings.HasPrefix(flag, "p="):
		if x.binding == nil {
			return "", malformedSCRAM("The client selected SCRAM-SHA-256 without channel binding, but the SCRAM message includes channel binding data.")
		}
		if kind := flag[2:]; kind != scramBindingType {
			return "", newFatal(codeProtocolViolation, fmt.Sprintf("unsupported SCRAM channel-binding type %q", kind))
		}
	default:
		return "", malformedSCRAM(fmt.Sprintf("Unexpected channel-binding flag %q.", flag))
	}
	x.gs2Header = msg[:len(flag)+len(authzid)+2]
	x.clientFirstBare = bare
	var clientNonce string
	for _, attr := range strings.Split(x.clientFirstBare, ",") {
		if v, ok := strings.CutPrefix(attr, "r="); ok {
			clientNonce = v
		}
	}
	if clientNonce == "" {
		return "", malformedSCRAM("The client-first message has no nonce.")
	}
	serverNonce := make([]byte, 18)
	rand.Read(serverNonce)
	x.nonce = clientNonce + base64.StdEncoding.EncodeToString(serverNonce)
	x.serverFirst = fmt.Sprintf("r=%s,s=%s,i=%d", x.nonce, base64.StdEncoding.EncodeToString(x.secret.salt), x.secret.iterations)
	return x.serverFirst, nil
}

// finish checks the client's proof and returns the server-final message.
func (x *scramExchange) finish(clientFinal []byte) (string, error) {
	msg := string(clientFinal)
	idx := strings.LastIndex(msg, ",p=")
	if idx < 0 {
		return "", malformedSCRAM("The client-final message has no proof.")
	}
	withoutProof := msg[:idx]
	proof, err := base64.StdEncoding.DecodeString(msg[idx+3:])
	if err != nil || len(proof) != sha256.Size {
		return "", malformedSCRAM("Malformed proof in client-final-message.")
	}
	var nonce, binding string
	for _, attr := range strings.Split(withoutProof, ",") {
		if v, ok := strings.CutPrefix(attr, "r="); ok {
			nonce = v
		}
		if v, ok := strings.CutPrefix(attr, "c="); ok {
			binding = v
		}
	}
	// c= is the GS2 header followed by the binding data, in base64.
	want := base64.StdEncoding.EncodeToString(append([]byte(x.gs2Header), x.binding...))
	if subtle.ConstantTimeCompare([]byte(binding), []byte(want)) != 1 {
		if x.binding != nil {
			return "", newFatal(codeInvalidAuthSpec, "SCRAM channel binding check failed")
		}
		return "", newFatal(codeProtocolViolation, "unexpected SCRAM channel-binding attribute in client-final-message")
	}
	if nonce != x.nonce {
		return "", malformedSCRAM("Nonce does not match.")
	}
	authMessage := x.clientFirstBare + "," + x.serverFirst + "," + withoutProof
	clientSignature := hmacSHA256(x.secret.storedKey, authMessage)
	clientKey := make([]byte, sha256.Size)
	for i := range clientKey {
		clientKey[i] = proof[i] ^ clientSignature[i]
	}
	stored := sha256.Sum256(clientKey)
	if subtle.ConstantTimeCompare(stored[:], x.secret.storedKey) != 1 {
		return "", errWrongPassword
	}
	return "v=" + base64.StdEncoding.EncodeToString(hmacSHA256(x.secret.serverKey, authMessage)), nil
}

var errWrongPassword = errors.New("wrong password")
