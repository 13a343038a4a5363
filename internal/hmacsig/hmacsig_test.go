package hmacsig_test

import (
	"testing"

	"github.com/gatehouse-iam/gatehouse/internal/hmacsig"
)

// The signature is HMAC-SHA256 as the standard defines it, so any receiver's library computes
// the same: RFC 4231's test case 2, in the header's format.
func TestSignIsStandardHMACSHA256(t *testing.T) {
	got := hmacsig.Sign([]byte("Jefe"), []byte("what do ya want for nothing?"))
	want := "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
	if got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

// A changed body, or another secret, gives another signature: a receiver can tell a forged
// or altered message.
func TestSignBindsBodyAndSecret(t *testing.T) {
	secret, body := []byte("0123456789abcdef"), []byte(`{"op":"grant"}`)
	base := hmacsig.Sign(secret, body)
	for name, sig := range map[string]string{
		"another body":   hmacsig.Sign(secret, []byte(`{"op":"revoke"}`)),
		"a body + space": hmacsig.Sign(secret, append(body, ' ')),
		"another secret": hmacsig.Sign([]byte("0123456789abcdeF"), body),
	} {
		if sig == base {
			t.Errorf("%s signs the same as the original: %s", name, sig)
		}
	}
}
