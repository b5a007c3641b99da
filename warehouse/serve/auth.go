package serve

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL speaks it: no channel
// binding, and the user name comes from the startup message, not from the
// SCRAM exchange.

const (
	scramMechanism  = "SCRAM-SHA-256"
	scramIterations = 4096 // PostgreSQL's default scram_iterations
	scramSaltLen    = 16
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

// scramExchange is the server side of one authentication.
type scramExchange struct {
	secret          scramSecret
	gs2Header       string
	clientFirstBare string
	serverFirst     string
	nonce           string
}

// start reads the client-first message and returns the server-first one.
func (x *scramExchange) start(clientFirst []byte) (string, error) {
	msg := string(clientFirst)
	var gs2 string
	switch {
	case strings.HasPrefix(msg, "n,,"), strings.HasPrefix(msg, "y,,"):
		// y: the client could bind to the channel but thinks we cannot, which is true.
		gs2 = msg[:3]
	case strings.HasPrefix(msg, "p="):
		return "", errors.New("channel binding is not supported: connect with channel_binding=disable or prefer")
	default:
		return "", errors.New("malformed SCRAM client-first message")
	}
	x.gs2Header = gs2
	x.clientFirstBare = msg[len(gs2):]
	var clientNonce string
	for _, attr := range strings.Split(x.clientFirstBare, ",") {
		if v, ok := strings.CutPrefix(attr, "r="); ok {
			clientNonce = v
		}
	}
	if clientNonce == "" {
		return "", errors.New("SCRAM client-first message has no nonce")
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
		return "", errors.New("SCRAM client-final message has no proof")
	}
	withoutProof := msg[:idx]
	proof, err := base64.StdEncoding.DecodeString(msg[idx+3:])
	if err != nil || len(proof) != sha256.Size {
		return "", errors.New("malformed SCRAM client proof")
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
	if nonce != x.nonce {
		return "", errors.New("SCRAM nonce mismatch")
	}
	if binding != base64.StdEncoding.EncodeToString([]byte(x.gs2Header)) {
		return "", errors.New("SCRAM channel binding mismatch")
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
