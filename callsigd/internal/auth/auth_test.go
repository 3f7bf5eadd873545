package auth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callsig/callsig/clock"
	"github.com/golang-jwt/jwt/v5"
)

var start = time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)

func key(b byte) []byte { return []byte(strings.Repeat(string(rune(b)), MinKeyLen)) }

func TestMintVerify(t *testing.T) {
	clk := clock.NewManual(start)
	a, err := New(key('k'), clk)
	if err != nil {
		t.Fatal(err)
	}
	for _, dev := range []string{"", "web", "téléphone"} {
		tok, err := a.Mint("alice", dev, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		u, d, err := a.Verify(tok)
		if err != nil || u != "alice" || d != dev {
			t.Fatalf("Verify(Mint(alice, %q)) = %q, %q, %v", dev, u, d, err)
		}
	}
}

func TestVerifyRefuses(t *testing.T) {
	clk := clock.NewManual(start)
	a, _ := New(key('k'), clk)
	other, _ := New(key('o'), clk)
	sign := func(m jwt.SigningMethod, k any, c jwt.Claims) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	exp := jwt.NewNumericDate(start.Add(time.Minute))
	// signRaw signs payload, a JSON text as it stands, under a's key.
	signRaw := func(payload string) string {
		unsigned := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." +
			base64.RawURLEncoding.EncodeToString([]byte(payload))
		sig, err := jwt.SigningMethodHS256.Sign(unsigned, key('k'))
		if err != nil {
			t.Fatal(err)
		}
		return unsigned + "." + base64.RawURLEncoding.EncodeToString(sig)
	}
	if u, _, err := a.Verify(signRaw(fmt.Sprintf(`{"sub":"alice","exp":%d,"x":1,"x":2}`, exp.Unix()))); err != nil || u != "alice" {
		t.Fatalf("a token with an unknown member twice: %q, %v; want alice", u, err)
	}
	expired, _ := a.Mint("alice", "web", time.Second)
	wrongKey, _ := other.Mint("alice", "web", time.Minute)
	cases := map[string]string{
		"empty":          "",
		"garbage":        "not.a.token",
		"wrong key":      wrongKey,
		"HS384":          sign(jwt.SigningMethodHS384, key('k'), Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "alice", ExpiresAt: exp}}),
		"alg none":       sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "alice", ExpiresAt: exp}}),
		"no exp":         sign(jwt.SigningMethodHS256, key('k'), Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "alice"}}),
		"no sub":         sign(jwt.SigningMethodHS256, key('k'), Claims{RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: exp}}),
		"bad sub":        sign(jwt.SigningMethodHS256, key('k'), Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "al\x00ice", ExpiresAt: exp}}),
		"long sub":       sign(jwt.SigningMethodHS256, key('k'), Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: strings.Repeat("a", 129), ExpiresAt: exp}}),
		"bad dev":        sign(jwt.SigningMethodHS256, key('k'), Claims{Device: "w\u200beb", RegisteredClaims: jwt.RegisteredClaims{Subject: "alice", ExpiresAt: exp}}),
		"expired (exp)":  expired,
		"tampered claim": strings.Replace(wrongKey, ".", ".x", 1),
		"exp a string":   sign(jwt.SigningMethodHS256, key('k'), jwt.MapClaims{"sub": "alice", "exp": strconv.FormatInt(exp.Unix(), 10)}),
		"nbf a string":   sign(jwt.SigningMethodHS256, key('k'), jwt.MapClaims{"sub": "alice", "exp": exp.Unix(), "nbf": strconv.FormatInt(start.Unix(), 10)}),
		"iat a string":   sign(jwt.SigningMethodHS256, key('k'), jwt.MapClaims{"sub": "alice", "exp": exp.Unix(), "iat": strconv.FormatInt(start.Unix(), 10)}),
		"exp null":       sign(jwt.SigningMethodHS256, key('k'), jwt.MapClaims{"sub": "alice", "exp": nil}),
		"sub twice":      signRaw(fmt.Sprintf(`{"sub":"alice","exp":%d,"sub":"mallory"}`, exp.Unix())),
		"exp twice":      signRaw(fmt.Sprintf(`{"sub":"alice","exp":%d,"exp":%d}`, exp.Unix(), exp.Unix()+3600)),
		"dev twice":      signRaw(fmt.Sprintf(`{"sub":"alice","dev":"web","exp":%d,"dev":"phone"}`, exp.Unix())),
	}
	clk.Advance(2 * time.Second) // past the expired token's exp
	for name, tok := range cases {
		if u, d, err := a.Verify(tok); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: Verify = %q, %q, %v; want ErrInvalidToken", name, u, d, err)
		}
	}
}

// Time claims written as numbers of any JSON form are taken: a fraction
// and an exponent are NumericDates too (RFC 7519 §2).
func TestVerifyTakesNumericDates(t *testing.T) {
	clk := clock.NewManual(start)
	a, _ := New(key('k'), clk)
	for _, exp := range []any{start.Unix() + 60, float64(start.Unix()) + 60.5, json.Number(strconv.FormatInt(start.Unix()+60, 10) + "e0")} {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "exp": exp, "iat": start.Unix()}).SignedString(key('k'))
		if err != nil {
			t.Fatal(err)
		}
		if u, _, err := a.Verify(tok); err != nil || u != "alice" {
			t.Errorf("exp %v: Verify = %q, %v", exp, u, err)
		}
	}
}

func TestNewRefusesShortKey(t *testing.T) {
	if _, err := New(make([]byte, MinKeyLen-1), nil); err == nil {
		t.Fatal("New took a key shorter than MinKeyLen")
	}
	if _, err := NewDev(nil).Mint("", "web", time.Minute); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("Mint of an empty user: %v", err)
	}
}
