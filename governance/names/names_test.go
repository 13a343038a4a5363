package names_test

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-iam/gatehouse/governance/names"
)

// Forms a reader cannot tell apart, or that differ only in case, are one name.
func TestFoldMergesWhatReadsAlike(t *testing.T) {
	for _, pair := range [][2]string{
		{"\u212Aate@example.org", "kate@example.org"}, // KELVIN SIGN, the example
		{"ＡＤＡ@ＥＸＡＭＰＬＥ.ORG", "ada@example.org"},        // fullwidth, as East Asian keyboards type
		{"Rene\u0301", "ren\u00e9"},                   // e + combining acute, as macOS file names and some keyboards send
		{"\ufb01nance", "finance"},                    // the ligature ﬁ
		{"ad\u200ba", "ada"},                          // a zero-width space
		{"a\u00adda", "ada"},                          // a soft hyphen
		{"ada\u202e", "ada"},                          // a right-to-left override
		{"STRASSE", "straße"},                         // full case folding
		{"ΟΔΟΣ", "οδος"},                              // final sigma
		{"\u13a0\u13a1", "\uab70\uab71"},              // Cherokee capitals and small letters
		{"Ω", "\u2126"},                               // OHM SIGN
	} {
		if a, b := names.Fold(pair[0]), names.Fold(pair[1]); a != b {
			t.Errorf("%q folds to %q, %q to %q: want one name", pair[0], a, pair[1], b)
		}
	}
}

// Names a reader sees as different stay different, lookalikes from other scripts included:
// folding them together would give one person's access to another.
func TestFoldKeepsApartWhatReadsDifferently(t *testing.T) {
	for _, pair := range [][2]string{
		{"ren\u00e9", "rene"},                       // an accent is part of the name
		{"\u0131", "i"},                             // dotless ı is another letter
		{"\u0430da@example.org", "ada@example.org"}, // Cyrillic а: a different letter that looks alike
		{"ada", "ada "},                             // a space is visible
		{"user1", "user2"},
		{"\u0600x", "x"}, // a prepended mark is visible, though Unicode calls it a format character
	} {
		if a, b := names.Fold(pair[0]), names.Fold(pair[1]); a == b {
			t.Errorf("%q and %q both fold to %q: want two names", pair[0], pair[1], a)
		}
	}
}

// ASCII folds to its lower case, so keys stored before Fold are unchanged.
func TestFoldOfASCIIIsLowerCase(t *testing.T) {
	var all strings.Builder
	for c := byte(0); c < 0x80; c++ {
		all.WriteByte(c)
	}
	if got, want := names.Fold(all.String()), strings.ToLower(all.String()); got != want {
		t.Fatalf("ASCII folds to %q, want %q", got, want)
	}
	if s := "already.lower@example.org"; names.Fold(s) != s {
		t.Fatalf("%q changed", s)
	}
}

// Every rune that case, compatibility or invisibility can touch, alone and among others, folds
// to a fixed point, and every pair of runes Go calls case variants of each other folds together.
// Planes 3 to 13 and 15 to 16 hold only ideographs, unassigned and private-use code points.
func TestFoldIsAFixedPointForEveryRune(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !utf8.ValidRune(r) || r > 0x2FFFF && (r < 0xE0000 || r > 0xE0FFF) {
			continue
		}
		for _, s := range []string{string(r), "a" + string(r) + "\u0301", "\u0130" + string(r) + "\u0345"} {
			if f := names.Fold(s); names.Fold(f) != f {
				t.Fatalf("%U: %q folds to %q, which folds to %q", r, s, f, names.Fold(f))
			}
		}
		for o := unicode.SimpleFold(r); o != r; o = unicode.SimpleFold(o) {
			if names.Fold(string(o)) != names.Fold(string(r)) {
				t.Fatalf("%U and %U differ only in case but fold apart", r, o)
			}
		}
	}
}

func FuzzFoldIsIdempotent(f *testing.F) {
	for _, s := range []string{"\u212Aate", "ＡＤＡ", "Rene\u0301", "ß", "\u13a0", "a\u200db", "\xff\xfe", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if once := names.Fold(s); names.Fold(once) != once {
			t.Fatalf("%q folds to %q, then to %q", s, once, names.Fold(once))
		}
	})
}
