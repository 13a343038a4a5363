// Package redisstore keeps Gatehouse's identity records in Redis. The key schema is in KEYS.md.
package redisstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/governance/names"
)

var _ governance.IdentityStore = (*Store)(nil)

// Store implements governance.IdentityStore on any Redis deployment go-redis can reach: single
// node, Sentinel or Cluster. All keys share one hash tag, so every script runs on one slot.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	route  []string // a key of the namespace, so Cluster clients send scripts to its slot
	now    func() time.Time
}

// New returns a store whose keys all start with "gh:{namespace}:". now is the gateway's one
// clock: the store stamps identity changes, the leaver queue and review items with it, so the
// duties that read those stamps on the same clock agree with them. New adds a hook to rdb that
// marks the failures of an unreachable Redis as governance.ErrUnavailable.
func New(rdb redis.UniversalClient, namespace string, now func() time.Time) *Store {
	rdb.AddHook(unavailableHook{})
	prefix := "gh:{" + namespace + "}:"
	return &Store{rdb: rdb, prefix: prefix, route: []string{prefix + "seq"}, now: now}
}

// Ping reports whether Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redisstore: ping: %w", err)
	}
	return nil
}

func (s *Store) Create(ctx context.Context, w governance.Write) (governance.Resource, error) {
	return s.write(ctx, createScript, "identity.create", w, s.prefix, string(w.Kind), w.ID)
}

func (s *Store) Replace(ctx context.Context, w governance.Write) (governance.Resource, error) {
	return s.write(ctx, replaceScript, "identity.update", w, s.prefix, string(w.Kind), w.ID, strconv.FormatInt(w.IfVersion, 10))
}

// validID reports whether id can be part of a key. Ids are made by the gateway (UUIDs); one
// with a colon or a space could name another resource's key ("x:doc") or split an index
// entry, so such an id names nothing, whatever a client sends.
func validID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func (s *Store) write(ctx context.Context, script *redis.Script, action string, w governance.Write, head ...any) (governance.Resource, error) {
	if !validID(w.ID) {
		return governance.Resource{}, governance.ErrNotFound
	}
	for _, m := range w.Members {
		if !validID(m) {
			return governance.Resource{}, &governance.UnknownMemberError{ID: m}
		}
	}
	for _, c := range w.MemberChanges {
		if !validID(c.ID) && !c.Remove {
			return governance.Resource{}, &governance.UnknownMemberError{ID: c.ID}
		}
	}
	lookups, err := lookupEntries(w.Keys.Lookups)
	if err != nil {
		return governance.Resource{}, err
	}
	if strings.Contains(w.Keys.Unique, "\x00") {
		return governance.Resource{}, fmt.Errorf("%w: name holds a NUL byte", governance.ErrInvalidKey)
	}
	unique := names.Fold(w.Keys.Unique)
	if unique == "" && w.Keys.Unique != "" {
		// Nothing but invisible characters: it would read as no name at all.
		return governance.Resource{}, fmt.Errorf("%w: name has no visible character", governance.ErrInvalidKey)
	}
	// Displays are stored as JSON strings: records are line-oriented, and a JSON string holds
	// no raw newline or tab whatever the IdP sent.
	display, err := json.Marshal(w.Keys.Display)
	if err != nil {
		return governance.Resource{}, err
	}
	if bytes.ContainsAny(w.Document, "\n") {
		return governance.Resource{}, fmt.Errorf("redisstore: %s %s: document is not compact JSON", w.Kind, w.ID)
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	inactive := "0"
	if w.Keys.Inactive {
		inactive = "1"
	}
	args := append(head, unique, display, []byte(w.Document),
		now.UnixMicro(), inactive, len(lookups))
	for _, l := range lookups {
		args = append(args, l)
	}
	switch {
	case w.Members != nil && w.MemberChanges != nil:
		return governance.Resource{}, fmt.Errorf("redisstore: write %s %s: both Members and MemberChanges", w.Kind, w.ID)
	case w.Members != nil:
		args = append(args, "set", len(w.Members))
		for _, m := range w.Members {
			args = append(args, m)
		}
	case w.MemberChanges != nil:
		args = append(args, "changes", len(w.MemberChanges))
		for _, c := range w.MemberChanges {
			sign := "+"
			if c.Remove {
				sign = "-"
			}
			if validID(c.ID) { // removing what cannot exist changes nothing
				args = append(args, sign+c.ID)
			}
		}
	default:
		args = append(args, "keep", 0)
	}
	event, err := identityEvent(ctx, action, w, now)
	if err != nil {
		return governance.Resource{}, err
	}
	args = append(args, event, governance.ActorOf(ctx))
	res, err := script.Run(ctx, s.rdb, s.route, args...).Slice()
	if err != nil {
		return governance.Resource{}, fmt.Errorf("redisstore: write %s %s: %w", w.Kind, w.ID, err)
	}
	if err := scriptError(res); err != nil {
		return governance.Resource{}, err
	}
	if len(res) != 3 {
		return governance.Resource{}, fmt.Errorf("redisstore: write %s %s: malformed reply", w.Kind, w.ID)
	}
	rec, _ := res[1].(string)
	return parseRecord(w.Kind, w.ID, rec, pairs(res[2]))
}

func (s *Store) Delete(ctx context.Context, kind governance.Kind, id string, ifVersion int64) error {
	if !validID(id) {
		return governance.ErrNotFound
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	event, err := identityEvent(ctx, "identity.delete", governance.Write{Kind: kind, ID: id}, now)
	if err != nil {
		return err
	}
	res, err := deleteScript.Run(ctx, s.rdb, s.route, s.prefix, string(kind), id,
		strconv.FormatInt(ifVersion, 10), now.UnixMicro(), event, governance.ActorOf(ctx)).Slice()
	if err != nil {
		return fmt.Errorf("redisstore: delete %s %s: %w", kind, id, err)
	}
	return scriptError(res)
}

func (s *Store) Get(ctx context.Context, kind governance.Kind, id string, opts governance.ReadOptions) (governance.Resource, error) {
	found, err := s.fetch(ctx, kind, []string{id}, opts)
	if err != nil {
		return governance.Resource{}, err
	}
	if len(found) == 0 {
		return governance.Resource{}, governance.ErrNotFound
	}
	return found[0], nil
}

func (s *Store) GetMany(ctx context.Context, kind governance.Kind, ids []string, opts governance.ReadOptions) ([]governance.Resource, error) {
	return s.fetch(ctx, kind, ids, opts)
}

// Departed answers a user the IdP deleted, as it last was, for departedFor after the deletion.
func (s *Store) Departed(ctx context.Context, id string) (governance.Resource, error) {
	if !validID(id) {
		return governance.Resource{}, governance.ErrNotFound
	}
	rec, err := s.rdb.Get(ctx, s.prefix+"departed:"+id).Result()
	if errors.Is(err, redis.Nil) {
		return governance.Resource{}, governance.ErrNotFound
	}
	if err != nil {
		return governance.Resource{}, fmt.Errorf("redisstore: departed %s: %w", id, err)
	}
	return parseRecord(governance.KindUser, id, rec, nil)
}

func (s *Store) Version(ctx context.Context, kind governance.Kind, id string) (int64, error) {
	if !validID(id) {
		return 0, governance.ErrNotFound
	}
	// The version leads the record: its first bytes are enough.
	head, err := s.rdb.GetRange(ctx, s.key(kind, id)+":doc", 0, 23).Result()
	if err != nil {
		return 0, fmt.Errorf("redisstore: version of %s %s: %w", kind, id, err)
	}
	v, _, _ := strings.Cut(head, " ")
	if head == "" {
		return 0, governance.ErrNotFound
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("redisstore: version of %s %s: %w", kind, id, err)
	}
	return n, nil
}

// FindUnique and FindLookup take one round trip: the index and the resources in one script.
func (s *Store) FindUnique(ctx context.Context, kind governance.Kind, value string, opts governance.ReadOptions) ([]governance.Resource, error) {
	return s.lookup(ctx, kind, "", names.Fold(value), opts)
}

func (s *Store) FindLookup(ctx context.Context, kind governance.Kind, attr, value string, opts governance.ReadOptions) ([]governance.Resource, error) {
	if _, err := lookupEntry(governance.Lookup{Attr: attr, Value: value}); err != nil || attr == "" {
		// A value that cannot be stored cannot be found either.
		return nil, nil
	}
	return s.lookup(ctx, kind, attr, value, opts)
}

func (s *Store) lookup(ctx context.Context, kind governance.Kind, index, value string, opts governance.ReadOptions) ([]governance.Resource, error) {
	withMembers := "0"
	if opts.Members {
		withMembers = "1"
	}
	rows, err := lookupScript.Run(ctx, s.rdb, s.route, s.prefix, string(kind), index, value, withMembers).Slice()
	if err != nil {
		return nil, fmt.Errorf("redisstore: lookup %s: %w", kind, err)
	}
	out := make([]governance.Resource, 0, len(rows))
	for _, row := range rows {
		f, ok := row.([]any)
		if !ok || len(f) != 3 {
			return nil, fmt.Errorf("redisstore: lookup %s: malformed reply", kind)
		}
		id, _ := f[0].(string)
		rec, _ := f[1].(string)
		res, err := parseRecord(kind, id, rec, pairs(f[2]))
		if err != nil {
			return nil, err
		}
		out = append(out, res)
	}
	return out, nil
}

// pairs turns a flat HGETALL reply from a script into a map.
func pairs(v any) map[string]string {
	flat, _ := v.([]any)
	m := make(map[string]string, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		k, _ := flat[i].(string)
		m[k], _ = flat[i+1].(string)
	}
	return m
}

// List takes two round trips: the page of ids with the total, then the resources.
func (s *Store) List(ctx context.Context, kind governance.Kind, offset, count int, opts governance.ReadOptions) (governance.Page, error) {
	var total *redis.IntCmd
	var ids *redis.StringSliceCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		total = p.ZCard(ctx, s.prefix+string(kind)+"s")
		if count > 0 {
			ids = p.ZRange(ctx, s.prefix+string(kind)+"s", int64(offset), int64(offset+count-1))
		}
		return nil
	})
	if err != nil {
		return governance.Page{}, fmt.Errorf("redisstore: list %s: %w", kind, err)
	}
	page := governance.Page{Total: int(total.Val())}
	if ids != nil {
		page.Resources, err = s.fetch(ctx, kind, ids.Val(), opts)
	}
	return page, err
}

func (s *Store) key(kind governance.Kind, id string) string {
	return s.prefix + string(kind) + ":" + id
}

// fetch reads resources in one round trip: one MGET of their records, which hold everything
// but a group's members; with members, one MULTI/EXEC adds an HGETALL per group, so each
// group's record and members are from the same moment. Resources that no longer exist are left
// out.
func (s *Store) fetch(ctx context.Context, kind governance.Kind, ids []string, opts governance.ReadOptions) ([]governance.Resource, error) {
	ids = slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return !validID(id) })
	if len(ids) == 0 {
		return nil, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = s.key(kind, id) + ":doc"
	}
	var records *redis.SliceCmd
	members := make([]*redis.MapStringStringCmd, len(ids))
	var err error
	if opts.Members {
		_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			records = p.MGet(ctx, keys...)
			for i, id := range ids {
				members[i] = p.HGetAll(ctx, s.prefix+"members:"+id)
			}
			return nil
		})
	} else {
		records = s.rdb.MGet(ctx, keys...)
		err = records.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: read %s: %w", kind, err)
	}
	out := make([]governance.Resource, 0, len(ids))
	for i, id := range ids {
		rec, ok := records.Val()[i].(string)
		if !ok {
			continue
		}
		var m map[string]string
		if members[i] != nil {
			m = members[i].Val()
		}
		res, err := parseRecord(kind, id, rec, m)
		if err != nil {
			return nil, err
		}
		out = append(out, res)
	}
	return out, nil
}

// parseRecord reads a record (see scripts.go): "v c m\n", one "groupId\tdisplay\n" per
// group, a blank line, the document. members maps member ids to "kind NUL display".
func parseRecord(kind governance.Kind, id, rec string, members map[string]string) (governance.Resource, error) {
	bad := func(why string) (governance.Resource, error) {
		return governance.Resource{}, fmt.Errorf("redisstore: record of %s %s: %s", kind, id, why)
	}
	head, doc, ok := strings.Cut(rec, "\n\n")
	if !ok {
		return bad("no header")
	}
	first, groups, _ := strings.Cut(head, "\n")
	fields := strings.Fields(first)
	if len(fields) != 3 {
		return bad("malformed first line")
	}
	var n [3]int64
	for i, f := range fields {
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return bad(err.Error())
		}
		n[i] = v
	}
	res := governance.Resource{Kind: kind, ID: id, Document: []byte(doc), Version: n[0],
		Created: time.UnixMicro(n[1]).UTC(), Modified: time.UnixMicro(n[2]).UTC()}
	for line := range strings.SplitSeq(groups, "\n") {
		if line == "" {
			continue
		}
		gid, display, ok := strings.Cut(line, "\t")
		if !ok {
			return bad("malformed group line")
		}
		name, err := unquote(display)
		if err != nil {
			return bad(err.Error())
		}
		res.MemberOf = append(res.MemberOf, governance.Ref{ID: gid, Display: name})
	}
	sort.Slice(res.MemberOf, func(a, b int) bool { return res.MemberOf[a].ID < res.MemberOf[b].ID })
	for mid, entry := range members {
		k, display, _ := strings.Cut(entry, "\x00")
		name, err := unquote(display)
		if err != nil {
			return bad(err.Error())
		}
		res.Members = append(res.Members, governance.Member{ID: mid, Kind: governance.Kind(k), Display: name})
	}
	sort.Slice(res.Members, func(a, b int) bool { return res.Members[a].ID < res.Members[b].ID })
	return res, nil
}

// unquote decodes a stored display, a JSON string.
func unquote(s string) (string, error) {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' && !strings.ContainsAny(s[1:len(s)-1], "\\\"") {
		return s[1 : len(s)-1], nil
	}
	var out string
	err := json.Unmarshal([]byte(s), &out)
	return out, err
}

// scriptError maps a write script's status reply to the store's sentinel errors.
func scriptError(res []any) error {
	if len(res) == 0 {
		return errors.New("redisstore: empty script reply")
	}
	status, _ := res[0].(string)
	detail := ""
	if len(res) > 1 {
		detail = fmt.Sprint(res[1])
	}
	switch status {
	case "ok":
		return nil
	case "notfound":
		return governance.ErrNotFound
	case "version":
		return governance.ErrVersionMismatch
	case "conflict":
		return fmt.Errorf("%w (%s)", governance.ErrConflict, detail)
	case "nomember":
		return &governance.UnknownMemberError{ID: detail}
	case "inactive":
		return fmt.Errorf("%w: no access for an identity that is not an active user", governance.ErrInactiveIdentity)
	case "selfmember":
		return fmt.Errorf("%w: a group cannot be its own member", governance.ErrInvalidKey)
	}
	return fmt.Errorf("redisstore: unexpected script status %q", status)
}

func lookupEntries(lookups []governance.Lookup) ([]string, error) {
	seen := make(map[string]bool, len(lookups))
	entries := make([]string, 0, len(lookups))
	for _, l := range lookups {
		e, err := lookupEntry(l)
		if err != nil {
			return nil, err
		}
		if !seen[e] {
			seen[e] = true
			entries = append(entries, e)
		}
	}
	return entries, nil
}

func lookupEntry(l governance.Lookup) (string, error) {
	if strings.Contains(l.Attr, "\x00") || strings.ContainsAny(l.Attr, ": ") || strings.Contains(l.Value, "\x00") {
		return "", fmt.Errorf("%w: lookup %q holds a NUL byte or a bad attribute name", governance.ErrInvalidKey, l.Attr)
	}
	return l.Attr + "\x00" + l.Value, nil
}

// identitySummary is what the audit trail keeps of an identity write: what governance depends
// on (the name, activation, memberships), not the profile, which stays the IdP's record and
// would cost the trail a kilobyte or more per change.
type identitySummary struct {
	Name    string   `json:"name,omitempty"`
	Active  *bool    `json:"active,omitempty"`
	Members *int     `json:"members,omitempty"` // a whole member list was set: its size
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
}

// identityEvent is the audit event of an identity write; the script appends it when the write
// changed what the summary holds.
func identityEvent(ctx context.Context, action string, w governance.Write, now time.Time) ([]byte, error) {
	e := governance.Event{At: now, Actor: governance.ActorOf(ctx), Action: action, Target: string(w.Kind) + ":" + w.ID}
	if action != "identity.delete" {
		sum := identitySummary{Name: w.Keys.Unique}
		if w.Kind == governance.KindUser {
			active := !w.Keys.Inactive
			sum.Active = &active
		}
		if w.Members != nil {
			n := len(w.Members)
			sum.Members = &n
		}
		for _, c := range w.MemberChanges {
			if c.Remove {
				sum.Removed = append(sum.Removed, c.ID)
			} else {
				sum.Added = append(sum.Added, c.ID)
			}
		}
		raw, err := json.Marshal(sum)
		if err != nil {
			return nil, err
		}
		e.After = raw
	}
	return encodeEvent(ctx, e)
}
