// Package governance owns Gatehouse's rules and the records they act on. This first part is the
// identity store: the users, groups and memberships that identity providers declare over SCIM.
// It imports neither HTTP nor Redis; adapters (package scim) and stores (package redisstore) sit
// on either side of it.
package governance
