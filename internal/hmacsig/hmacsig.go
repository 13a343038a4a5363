// Package hmacsig is the one signature Gatehouse puts on the bodies it POSTs to receivers of
// its own choosing (the webhook connector's calls and the webhook notifier's notifications),
// so a receiver checks both the same way: the header X-Gatehouse-Signature holds "sha256="
// and the hex HMAC-SHA256 of the exact body bytes under the shared secret.
package hmacsig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// Header carries the signature.
const Header = "X-Gatehouse-Signature"

// Sign is the signature of body under secret, as Header carries it and a receiver should
// compute it.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}
