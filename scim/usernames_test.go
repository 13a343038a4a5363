package scim

import (
	"encoding/json"
	"net/url"
	"sync"
	"testing"
)

func namedUser(userName string) string {
	b, _ := json.Marshal(map[string]any{"schemas": []string{userSchemaID}, "userName": userName,
		"emails": []any{map[string]any{"value": userName, "type": "work", "primary": true}}})
	return string(b)
}

// findUsers answers the ids a filter finds.
func (p *inProcess) findUsers(t *testing.T, filter string) []string {
	t.Helper()
	rec := p.do(t, "GET", "/Users?filter="+url.QueryEscape(filter), "")
	if rec.Code != 200 {
		t.Fatalf("%s: %d %s", filter, rec.Code, rec.Body)
	}
	var list struct{ Resources []struct{ ID string } }
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range list.Resources {
		ids = append(ids, r.ID)
	}
	return ids
}

// A userName a person reads as another one already taken (the Kelvin sign for K, fullwidth
// letters, an accent typed as a separate mark, a ligature, an invisible space) is that name:
// the IdP cannot create a lookalike second user, and every lookup, indexed or scanned, by
// userName or by email, finds the first. Names that read differently stay two users.
func TestUserNamesCompareUnderOneFold(t *testing.T) {
	p := newInProcess(t)
	for _, tc := range []struct{ taken, lookalike string }{
		{"kate@example.org", "\u212Aate@example.org"},
		{"ada@example.org", "ＡＤＡ@example.org"},
		{"ren\u00e9@example.org", "Rene\u0301@example.org"},
		{"finance@example.org", "\ufb01nance@example.org"},
		{"bob@example.org", "b\u200bob@example.org"},
	} {
		rec := p.do(t, "POST", "/Users", namedUser(tc.taken))
		if rec.Code != 201 {
			t.Fatalf("%q: %d %s", tc.taken, rec.Code, rec.Body)
		}
		id := rec.Header().Get("Location")[len("http://gatehouse.test/scim/v2/Users/"):]
		if rec := p.do(t, "POST", "/Users", namedUser(tc.lookalike)); rec.Code != 409 {
			t.Errorf("%q beside %q: %d, want 409: %s", tc.lookalike, tc.taken, rec.Code, rec.Body)
		}
		for _, f := range []string{
			`userName eq "` + tc.lookalike + `"`,                                         // the unique index
			`emails.value eq "` + tc.lookalike + `"`,                                     // the email index
			`emails[type eq "work" and value eq "` + tc.lookalike + `"]`,                 // Entra's lookup
			`userName eq "nobody" or userName eq "` + tc.lookalike + `"`,                 // a scan
			`userName pr and emails[type eq "work" and value co "` + tc.lookalike + `"]`, // a scan by substring
		} {
			if found := p.findUsers(t, f); len(found) != 1 || found[0] != id {
				t.Errorf("%s found %v, want [%s]", f, found, id)
			}
		}
	}
	var rene string
	for _, distinct := range []string{"rene@example.org", "\u0430da@example.org", "kate @example.org"} {
		rec := p.do(t, "POST", "/Users", namedUser(distinct))
		if rec.Code != 201 {
			t.Fatalf("%q is a name of its own: %d %s", distinct, rec.Code, rec.Body)
		}
		if rene == "" {
			rene = rec.Header().Get("Location")[len("http://gatehouse.test/scim/v2/Users/"):]
		}
	}
	// A rename is held to the same rule as a creation.
	if rec := p.do(t, "PUT", "/Users/"+rene, namedUser("RENE\u0301@example.org")); rec.Code != 409 {
		t.Errorf("renamed to a lookalike of ren\u00e9: %d, want 409: %s", rec.Code, rec.Body)
	}
	// A name of invisible characters only would read as no name at all.
	if rec := p.do(t, "POST", "/Users", namedUser("\u200b\u2060")); rec.Code != 400 {
		t.Errorf("an invisible userName: %d, want 400: %s", rec.Code, rec.Body)
	}
}

// Lookalike forms of one name created at the same moment: the uniqueness check runs on the
// folded name inside the write, so exactly one of them is created.
func TestLookalikesCreatedAtOnceMakeOneUser(t *testing.T) {
	p := newInProcess(t)
	forms := []string{"kate@example.org", "\u212Aate@example.org", "ＫＡＴＥ@example.org", "k\u200bate@example.org", "KATE@EXAMPLE.ORG", "ｋａｔｅ@example.org"}
	codes := make(chan int, len(forms))
	var wg sync.WaitGroup
	for _, f := range forms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes <- p.do(t, "POST", "/Users", namedUser(f)).Code
		}()
	}
	wg.Wait()
	close(codes)
	created := 0
	for c := range codes {
		switch c {
		case 201:
			created++
		case 409:
		default:
			t.Errorf("a create answered %d", c)
		}
	}
	if created != 1 {
		t.Fatalf("%d users created from %d forms of one name, want 1", created, len(forms))
	}
	if found := p.findUsers(t, `userName eq "kate@example.org"`); len(found) != 1 {
		t.Fatalf("kate@example.org finds %v", found)
	}
}
