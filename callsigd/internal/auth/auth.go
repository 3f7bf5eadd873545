// Package auth mints and checks the client tokens of callsigd: JWTs signed
// with HS256 whose "sub" is the user ID, "dev" the device ID (absent: the
// default device "") and "exp" the expiry, which is required.
//
// A token is accepted only if it is well formed, signed with HS256 under
// the Authority's key, not expired by the Authority's clock, and names IDs
// the Registry would take (call.ValidID and call.ValidDevice): a token the
// Registry would refuse to log in must not open a connection that then
// does nothing.
package auth

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/golang-jwt/jwt/v5"
)

// MinKeyLen is the fewest bytes an HS256 key may have: the hash's own
// size, as RFC 7518 §3.2 requires.
const MinKeyLen = 32

// ErrInvalidToken is the error of every token Verify refuses; its message
// says why, for the server's log (a client only gets 401).
var ErrInvalidToken = errors.New("invalid token")

// Claims are the claims of a client token.
type Claims struct {
	Device string `json:"dev,omitempty"` // the device ID; absent: the default device ""
	jwt.RegisteredClaims
}

// claimNames are the members of a token's payload that Claims reads.
var claimNames = []string{"sub", "dev", "exp", "nbf", "iat", "iss", "aud", "jti"}

// duplicateClaim returns the first of claimNames that b, a JSON object
// json.Unmarshal has read, has twice, or "": encoding/json keeps the last
// of two, where another verifier of the same token may keep the first
// (RFC 7519 §4 lets a parser refuse such a token, and so it is refused).
func duplicateClaim(b []byte) string {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	var seen uint32 // by index in claimNames
	for dec.More() {
		t, err := dec.Token()
		name, ok := t.(string)
		if err != nil || !ok {
			return ""
		}
		if k := slices.Index(claimNames, name); k >= 0 {
			if seen&(1<<k) != 0 {
				return name
			}
			seen |= 1 << k
		}
		var value json.RawMessage
		if dec.Decode(&value) != nil {
			return ""
		}
	}
	return ""
}

// timeClaims are the claims that hold a NumericDate.
var timeClaims = []string{"exp", "nbf", "iat"}

// isNumber reports whether v, a JSON value as json.RawMessage holds it
// (no space around it), is a number: one starts with a minus sign or a
// digit, and json.Unmarshal has checked the rest of its syntax.
func isNumber(v json.RawMessage) bool {
	return len(v) > 0 && (v[0] == '-' || '0' <= v[0] && v[0] <= '9')
}

// UnmarshalJSON reads the claims by their exact names, which are
// case-sensitive (RFC 7519 §4): encoding/json would match a member to a
// field whatever its case, and so take a "Sub" or "Dev" member, if it came
// after "sub" or "dev" or stood for a missing one, for the token's user or
// device. Other members are ignored; a claim that stands twice is
// refused.
//
// The time claims must be JSON numbers, as RFC 7519 §2 defines a
// NumericDate: jwt's own decoding would also take "exp":"1999999999", a
// string a sloppy minter wrote, and a token whose expiry a strict verifier
// elsewhere would refuse must not open a connection here.
func (c *Claims) UnmarshalJSON(b []byte) error {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(b, &members); err != nil {
		return err
	}
	exact := make(map[string]json.RawMessage, len(claimNames))
	for _, name := range claimNames {
		if v, ok := members[name]; ok {
			exact[name] = v
		}
	}
	if name := duplicateClaim(b); name != "" {
		return fmt.Errorf("claim %q stands twice", name)
	}
	for _, name := range timeClaims {
		if v, ok := exact[name]; ok && !isNumber(v) {
			return fmt.Errorf("claim %q is %s, not a number (RFC 7519 NumericDate)", name, v)
		}
	}
	b, err := json.Marshal(exact)
	if err != nil {
		return err
	}
	type plain Claims // Claims without this method
	return json.Unmarshal(b, (*plain)(c))
}

// Authority mints and verifies tokens under one HS256 key. It is safe for
// concurrent use.
type Authority struct {
	key    []byte
	clock  clock.Clock
	parser *jwt.Parser
}

// New returns an Authority for key, which must be at least MinKeyLen
// bytes. Expiry is judged by clk (nil: clock.Real()), so that a test on a
// manual clock mints and checks tokens on the same time line as its
// Registry.
func New(key []byte, clk clock.Clock) (*Authority, error) {
	if len(key) < MinKeyLen {
		return nil, fmt.Errorf("auth: an HS256 key needs at least %d bytes, this one has %d", MinKeyLen, len(key))
	}
	if clk == nil {
		clk = clock.Real()
	}
	return &Authority{
		key:   append([]byte(nil), key...),
		clock: clk,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithExpirationRequired(),
			jwt.WithTimeFunc(clk.Now),
		),
	}, nil
}

// NewDev returns an Authority with a random key of its own, for dev mode:
// its tokens are good only until the process ends.
func NewDev(clk clock.Clock) *Authority {
	key := make([]byte, MinKeyLen)
	_, _ = rand.Read(key) // crypto/rand.Read never fails (it panics on a broken system source)
	a, _ := New(key, clk)
	return a
}

// Mint returns a token for user and device that expires ttl from now on
// the Authority's clock. It refuses IDs that Verify would refuse.
func (a *Authority) Mint(user, device string, ttl time.Duration) (string, error) {
	if err := checkIDs(user, device); err != nil {
		return "", err
	}
	now := a.clock.Now()
	c := Claims{Device: device, RegisteredClaims: jwt.RegisteredClaims{
		Subject:   user,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(a.key)
}

// Verify checks token and returns its user and device. Every refusal
// matches ErrInvalidToken.
func (a *Authority) Verify(token string) (user, device string, err error) {
	if token == "" {
		return "", "", fmt.Errorf("%w: no token", ErrInvalidToken)
	}
	var c Claims
	if _, err := a.parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return a.key, nil }); err != nil {
		return "", "", fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if err := checkIDs(c.Subject, c.Device); err != nil {
		return "", "", err
	}
	return c.Subject, c.Device, nil
}

// checkIDs refuses a user or device ID that the Registry would refuse.
func checkIDs(user, device string) error {
	if !call.ValidID(user) {
		return fmt.Errorf("%w: sub %q is not a valid user ID", ErrInvalidToken, user)
	}
	if !call.ValidDevice(device) {
		return fmt.Errorf("%w: dev %q is not a valid device ID", ErrInvalidToken, device)
	}
	return nil
}
