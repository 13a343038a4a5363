// Package governance owns Gatehouse's rules and the records they act on: the identity store
// (users, groups and memberships as identity providers declare them over SCIM) and access
// requests, whose transitions are pure functions of the request, the input and the time. It
// imports neither HTTP nor Redis; adapters (package scim) and stores (package redisstore) sit
// on either side of it.
package governance
