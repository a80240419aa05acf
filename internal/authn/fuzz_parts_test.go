package authn

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzVerifyParts fuzzes the header and claims of tokens that carry a real signature:
// the token is signed by the test key (with the algorithm the header names when it is an
// RSA one), by HMAC keyed with the public key (alg confusion), by another key, or not at
// all. Verify must not panic, and a token it accepts must verify with the test key's
// public key under an asymmetric algorithm, for the configured issuer and audience,
// unexpired.
func FuzzVerifyParts(f *testing.F) {
	clk, k, v, _ := staticFixture(f, 0)
	other := rsaKey(f, 1)
	pubDER, _ := x509.MarshalPKIXPublicKey(k.priv.Public())
	good := k.sign(f, baseClaims(clk, "https://self.example.com"))
	parts := strings.Split(good, ".")
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	cl, _ := base64.RawURLEncoding.DecodeString(parts[1])
	exp := clk.unix(time.Hour)
	for _, s := range []struct {
		h, c string
	}{
		{string(hdr), string(cl)},
		{`{"alg":"RS256","kid":"k1"}`, `{"iss":"https://self.example.com","aud":["x","` + testAud + `"],"sub":"u","exp":` + jsonInt(exp) + `}`},
		{`{"alg":"PS256","kid":"k1"}`, string(cl)},
		{`{"alg":"HS256","kid":"k1"}`, string(cl)},
		{`{"alg":"hs256","kid":"k1"}`, string(cl)},
		{`{"alg":"none","kid":"k1"}`, string(cl)},
		{`{"alg":"RS256","alg":"HS256","kid":"k1"}`, string(cl)},
		{`{"alg":"RS256","kid":["k1"]}`, string(cl)},
		{`{"alg":"RS256","kid":"k1","crit":["exp"]}`, string(cl)},
		{`{"alg":"RS256","kid":"k1","x":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`, string(cl)},
		{`{"alg":"RS256","kid":"` + strings.Repeat("k", 100000) + `"}`, string(cl)},
		{string(hdr), `{"iss":"https://self.example.com","aud":"` + testAud + `","sub":"u","exp":1e400}`},
		{string(hdr), `{"iss":"https://self.example.com","aud":"` + testAud + `","sub":"u","exp":99999999999999999999999999}`},
		{string(hdr), `{"iss":"https://self.example.com","aud":"` + testAud + `","sub":"u","exp":-1e308,"nbf":1e308}`},
		{string(hdr), `{"iss":"https://self.example.com","aud":"` + testAud + `","sub":"u","exp":"` + jsonInt(exp) + `"}`},
		{string(hdr), `{"iss":"https://self.example.com\u0000","aud":"` + testAud + `","sub":"u","exp":` + jsonInt(exp) + `}`},
		{string(hdr), "{\"iss\":\"https://self.example.com\xff\",\"aud\":\"" + testAud + "\",\"sub\":\"u\",\"exp\":" + jsonInt(exp) + "}"},
		{string(hdr), `{"iss":"https://self.example.com","aud":"` + testAud + `","sub":"u","exp":` + jsonInt(exp) + `,"groups":` + strings.Repeat(`{"a":`, 2000) + `1` + strings.Repeat(`}`, 2000) + `}`},
		{string(hdr), `{"iss":"https://self.example.com","ISS":"x","aud":"` + testAud + `","AUD":"y","sub":"u","exp":` + jsonInt(exp) + `}`},
		{string(hdr), `[]`},
		{string(hdr), `null`},
		{string(hdr), ``},
	} {
		for mode := byte(0); mode < 4; mode++ {
			f.Add([]byte(s.h), []byte(s.c), mode)
		}
	}
	f.Fuzz(func(t *testing.T, header, claims []byte, mode byte) {
		if len(header)+len(claims) > 256<<10 {
			return
		}
		var h struct {
			Alg any `json:"alg"`
		}
		_ = json.Unmarshal(header, &h)
		alg, _ := h.Alg.(string)
		input := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(claims)
		var sig []byte
		var err error
		switch mode % 4 {
		case 0: // the test key, with the header's RSA algorithm when it names one
			m := jwt.GetSigningMethod(alg)
			if _, ok := m.(*jwt.SigningMethodRSA); !ok {
				if _, ok := m.(*jwt.SigningMethodRSAPSS); !ok {
					m = jwt.SigningMethodRS256
				}
			}
			sig, err = m.Sign(input, k.priv)
		case 1: // HMAC keyed with the public key: alg confusion
			sig, err = jwt.SigningMethodHS256.Sign(input, pubDER)
		case 2: // another key
			sig, err = jwt.SigningMethodRS256.Sign(input, other)
		case 3: // no signature
		}
		if err != nil {
			t.Fatal(err)
		}
		tok := input + "." + base64.RawURLEncoding.EncodeToString(sig)
		p, verr := v.Verify(context.Background(), tok)
		if verr != nil {
			if _, ok := verr.(*Error); !ok {
				t.Fatalf("technical error for a static issuer: %v", verr)
			}
			return
		}
		// Accepted: check it independently.
		m := jwt.GetSigningMethod(alg)
		if m == nil || !strings.HasPrefix(alg, "RS") && !strings.HasPrefix(alg, "PS") && !strings.HasPrefix(alg, "ES") && alg != "EdDSA" {
			t.Fatalf("accepted a token with alg %q", alg)
		}
		if err := m.Verify(input, sig, k.priv.Public()); err != nil {
			t.Fatalf("accepted a token (mode %d) that does not verify with the test key: %v", mode%4, err)
		}
		var c map[string]any
		if err := json.Unmarshal(claims, &c); err != nil {
			t.Fatalf("accepted claims encoding/json cannot read: %v", err)
		}
		if c["iss"] != "https://self.example.com" || p.Issuer != c["iss"] {
			t.Fatalf("accepted iss %q (principal %q)", c["iss"], p.Issuer)
		}
		e, ok := c["exp"].(float64)
		if !ok || time.Unix(int64(e), 0).Before(clk.Now().Add(-5*time.Minute)) {
			t.Fatalf("accepted exp %v", c["exp"])
		}
		found := c["aud"] == testAud
		if list, ok := c["aud"].([]any); ok {
			for _, a := range list {
				found = found || a == testAud
			}
		}
		if !found {
			t.Fatalf("accepted audience %v", c["aud"])
		}
	})
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }
