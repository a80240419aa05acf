package authn

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// benchSetup returns an Entra-shaped access token (about 800 bytes with an RS256
// signature) and a verifier that accepts it.
func benchSetup(b *testing.B, k *testKey, cacheSize int) (string, *JWTVerifier) {
	b.Helper()
	reg, err := NewRegistry(context.Background(), []Issuer{{Name: "bench", Issuer: "https://login.example.com/tenant/v2.0", JWKS: jwksJSON(b, k)}},
		Options{CacheSize: cacheSize})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = reg.Close() })
	v, err := reg.Verifier([]string{"bench"}, []string{testAud})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	tok := k.sign(b, jwt.MapClaims{
		"iss": "https://login.example.com/tenant/v2.0", "aud": testAud, "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "nbf": now.Unix(), "ver": "2.0",
		"azp": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "azpacr": "0", "name": "Ada Lovelace",
		"oid": "00000000-0000-0000-66f3-3332eca7ea81", "preferred_username": "ada@contoso.com",
		"scp": "Tools.Call Tools.List", "tid": "11111111-1111-1111-1111-111111111111",
		"groups": []string{"6e5b2c2a-1234-4d2e-9b1a-0a1b2c3d4e5f", "7f6c3d3b-2345-5e3f-ac2b-1b2c3d4e5f60"},
		"uti":    "AbCdEfGhIjKlMnOpQrStUv", "rh": "0.AAAA-bench-opaque-value-AAAAAAAAAAAAAAAAAAAAAAAAAAAA.",
	})
	if _, err := v.Verify(context.Background(), tok); err != nil {
		b.Fatal(err)
	}
	return tok, v
}

func benchVerify(b *testing.B, tok string, v *JWTVerifier) {
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(tok)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyCold: every call parses the token, checks the claims and the signature
// (cache disabled).
func BenchmarkVerifyCold(b *testing.B) {
	b.Run("RS256", func(b *testing.B) {
		tok, v := benchSetup(b, newRSA(b, 0, "k1"), -1)
		benchVerify(b, tok, v)
	})
	b.Run("ES256", func(b *testing.B) {
		tok, v := benchSetup(b, newEC(b, "e1"), -1)
		benchVerify(b, tok, v)
	})
}

// BenchmarkVerifyCached: the same token again (a hit in the verified-token cache).
func BenchmarkVerifyCached(b *testing.B) {
	b.Run("RS256", func(b *testing.B) {
		tok, v := benchSetup(b, newRSA(b, 0, "k1"), 0)
		benchVerify(b, tok, v)
	})
	b.Run("RS256-parallel", func(b *testing.B) {
		tok, v := benchSetup(b, newRSA(b, 0, "k1"), 0)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := v.Verify(context.Background(), tok); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("RS256-full-cache", func(b *testing.B) {
		// A cache holding 10,000 other tokens, to show lookups do not degrade with size.
		k := newRSA(b, 0, "k1")
		tok, v := benchSetup(b, k, 0)
		p, _ := v.Verify(context.Background(), tok)
		for i := range 10000 {
			v.cache.put(tok+strings.Repeat("x", i%7)+strconv.Itoa(i), p, time.Now().Add(time.Hour), nil, 0)
		}
		benchVerify(b, tok, v)
	})
}

// BenchmarkBaseline is the floor measured in the same run: the raw crypto/rsa and
// crypto/ecdsa verification of the same tokens' signatures (SHA-256 of the signing input
// plus the public-key operation), and the SHA-256 of the whole token that keying the cache
// by HashToken would cost on every request.
func BenchmarkBaseline(b *testing.B) {
	split := func(tok string) ([]byte, []byte) {
		i := strings.LastIndexByte(tok, '.')
		sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
		if err != nil {
			b.Fatal(err)
		}
		return []byte(tok[:i]), sig
	}
	b.Run("rsa.VerifyPKCS1v15", func(b *testing.B) {
		k := newRSA(b, 0, "k1")
		tok, _ := benchSetup(b, k, -1)
		input, sig := split(tok)
		pub := k.priv.Public().(*rsa.PublicKey)
		b.ReportAllocs()
		for b.Loop() {
			h := sha256.Sum256(input)
			if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ecdsa.Verify", func(b *testing.B) {
		k := newEC(b, "e1")
		tok, _ := benchSetup(b, k, -1)
		input, sig := split(tok)
		pub := k.priv.Public().(*ecdsa.PublicKey)
		b.ReportAllocs()
		for b.Loop() {
			h := sha256.Sum256(input)
			// JWS ES256 signatures are r||s, 32 bytes each.
			if !ecdsaVerifyRS(pub, h[:], sig) {
				b.Fatal("ecdsa verify failed")
			}
		}
	})
	b.Run("HashToken", func(b *testing.B) {
		tok, _ := benchSetup(b, newRSA(b, 0, "k1"), -1)
		b.SetBytes(int64(len(tok)))
		b.ReportAllocs()
		for b.Loop() {
			_ = HashToken(tok)
		}
	})
}

func ecdsaVerifyRS(pub *ecdsa.PublicKey, hash, sig []byte) bool {
	if len(sig) != 64 {
		return false
	}
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:])
	return ecdsa.Verify(pub, hash, r, s)
}
