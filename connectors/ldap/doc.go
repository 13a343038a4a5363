// Package ldap is the LDAP connector (github.com/go-ldap/ldap/v3): it creates user entries
// from SCIM attributes, adds and removes group memberships, and disables and enables accounts,
// against OpenLDAP, 389-DS or Active Directory style directories.
//
// Every user DN is built by account, every group DN by groupDN and every filter by filter:
// those are the only places values from outside reach the directory, each escaped exactly once.
//
// People live under the user base, non-human accounts (service accounts) under a base of
// their own, so a service account named like a person, present or departed, never gets that
// person's entry, nor a person a service account's.
package ldap
