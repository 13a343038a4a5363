// Package names is the one way Gatehouse compares the names people are known by: SCIM
// userNames, email addresses, group displayNames and the account names target systems hold.
// It imports nothing of Gatehouse, so connectors, which know nothing of governance, compare
// account names exactly as the identity store indexes them.
package names

import (
	"strings"
	"unicode"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Fold is the form under which two names are the same name: compatibility-normalised (NFKC),
// case-folded with Unicode's full folding, without invisible characters, and normalised again.
// It is close to Unicode's NFKC_Casefold and to LDAP's caseIgnoreMatch (RFC 4518), which
// directories apply to uid and cn.
//
// What it merges is what a reader cannot tell apart or what differs only in case: the Kelvin
// sign (U+212A) and K, fullwidth ＡＤＡ and ada, é typed as one character or as e plus an accent,
// the ligature ﬁ and fi, a zero-width space and nothing, ß and ss. What it keeps apart is what
// a reader sees as different: é and e, ı and i, Cyrillic а and Latin a (a lookalike, but a
// different letter; see docs/security.md).
//
// ASCII folds to its lower case, so names the store indexed before Fold existed keep their
// keys. Fold is idempotent: a folded name folds to itself.
func Fold(s string) string {
	if isASCII(s) {
		return strings.ToLower(s)
	}
	s = cases.Fold().String(norm.NFKC.String(s))
	return norm.NFKC.String(strings.Map(func(r rune) rune {
		if invisible(r) {
			return -1
		}
		return cherokee(r)
	}, s))
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// cherokee folds small Cherokee letters to the capitals, as Unicode's CaseFolding.txt does.
// x/text's Fold swaps the two cases instead, so without this a Cherokee name in capitals and
// the same name in small letters would never compare equal, and Fold would not be idempotent.
func cherokee(r rune) rune {
	if r >= 0xAB70 && r <= 0xABBF || r >= 0x13F8 && r <= 0x13FD {
		return unicode.ToUpper(r)
	}
	return r
}

// invisible reports Unicode's Default_Ignorable_Code_Point: zero-width spaces and joiners,
// soft hyphens, bidirectional controls, variation selectors. A name that differs from another
// only by them looks the same. Derived as Unicode's DerivedCoreProperties.txt does, since Go's
// tables hold only its parts.
func invisible(r rune) bool {
	switch {
	case unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r), unicode.Is(unicode.Variation_Selector, r):
		return true
	case !unicode.Is(unicode.Cf, r), unicode.Is(unicode.Prepended_Concatenation_Mark, r),
		r >= 0xFFF9 && r <= 0xFFFB,   // interlinear annotation marks, which are visible
		r >= 0x13430 && r <= 0x1343F: // Egyptian hieroglyph format controls, likewise
		return false
	}
	return true
}
