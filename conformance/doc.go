// Package conformance holds Gatehouse's black-box tests: they build the real gatehouse binary,
// start it against a private redis-server, and speak to it only over HTTP, as an identity
// provider would. The recorded Entra ID and Okta request shapes replayed here live in
// fixtures/idp.
package conformance
