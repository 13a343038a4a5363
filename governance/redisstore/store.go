// Package redisstore keeps Gatehouse's identity records in Redis. The key schema is in KEYS.md.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-iam/gatehouse/governance"
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

// New returns a store whose keys all start with "gh:{namespace}:".
func New(rdb redis.UniversalClient, namespace string) *Store {
	prefix := "gh:{" + namespace + "}:"
	return &Store{rdb: rdb, prefix: prefix, route: []string{prefix + "seq"}, now: time.Now}
}

// Ping reports whether Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redisstore: ping: %w", err)
	}
	return nil
}

func (s *Store) Create(ctx context.Context, w governance.Write) (governance.Resource, error) {
	return s.write(ctx, createScript, w, s.prefix, string(w.Kind), w.ID)
}

func (s *Store) Replace(ctx context.Context, w governance.Write) (governance.Resource, error) {
	return s.write(ctx, replaceScript, w, s.prefix, string(w.Kind), w.ID, strconv.FormatInt(w.IfVersion, 10))
}

func (s *Store) write(ctx context.Context, script *redis.Script, w governance.Write, head ...any) (governance.Resource, error) {
	lookups, err := lookupEntries(w.Keys.Lookups)
	if err != nil {
		return governance.Resource{}, err
	}
	if strings.Contains(w.Keys.Unique, "\x00") || strings.Contains(w.Keys.Display, "\x00") {
		return governance.Resource{}, fmt.Errorf("%w: name holds a NUL byte", governance.ErrInvalidKey)
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	args := append(head, strings.ToLower(w.Keys.Unique), w.Keys.Display, []byte(w.Document),
		now.UnixMicro(), len(lookups))
	for _, l := range lookups {
		args = append(args, l)
	}
	hasMembers := "0"
	if w.Members != nil {
		hasMembers = "1"
	}
	args = append(args, hasMembers, len(w.Members))
	for _, m := range w.Members {
		args = append(args, m)
	}
	res, err := script.Run(ctx, s.rdb, s.route, args...).Slice()
	if err != nil {
		return governance.Resource{}, fmt.Errorf("redisstore: write %s %s: %w", w.Kind, w.ID, err)
	}
	if err := scriptError(res); err != nil {
		return governance.Resource{}, err
	}
	return s.Get(ctx, w.Kind, w.ID, governance.ReadOptions{Members: w.Kind == governance.KindGroup})
}

func (s *Store) Delete(ctx context.Context, kind governance.Kind, id string, ifVersion int64) error {
	now := s.now().UTC().Truncate(time.Microsecond)
	res, err := deleteScript.Run(ctx, s.rdb, s.route, s.prefix, string(kind), id,
		strconv.FormatInt(ifVersion, 10), now.UnixMicro()).Slice()
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

func (s *Store) Version(ctx context.Context, kind governance.Kind, id string) (int64, error) {
	v, err := s.rdb.HGet(ctx, s.key(kind, id), "v").Int64()
	if errors.Is(err, redis.Nil) {
		return 0, governance.ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("redisstore: version of %s %s: %w", kind, id, err)
	}
	return v, nil
}

// FindUnique and FindLookup take one round trip: the index and the resources in one script.
func (s *Store) FindUnique(ctx context.Context, kind governance.Kind, value string, opts governance.ReadOptions) ([]governance.Resource, error) {
	return s.lookup(ctx, kind, "", strings.ToLower(value), opts)
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
		if !ok || len(f) != 7 {
			return nil, fmt.Errorf("redisstore: lookup %s: malformed reply", kind)
		}
		id, _ := f[0].(string)
		doc, _ := f[1].(string)
		res, err := assemble(kind, id, doc, f[2:5], pairs(f[5]), pairs(f[6]))
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

// fetch reads resources in one round trip, as one MULTI/EXEC so that each resource's parts
// (hash, document, memberships) are from the same moment. Resources that no longer exist are
// left out.
func (s *Store) fetch(ctx context.Context, kind governance.Kind, ids []string, opts governance.ReadOptions) ([]governance.Resource, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	type parts struct {
		meta     *redis.SliceCmd
		memberOf *redis.MapStringStringCmd
		members  *redis.MapStringStringCmd
	}
	cmds := make([]parts, len(ids))
	docKeys := make([]string, len(ids))
	var docs *redis.SliceCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			docKeys[i] = s.key(kind, id) + ":doc"
		}
		docs = p.MGet(ctx, docKeys...)
		for i, id := range ids {
			cmds[i].meta = p.HMGet(ctx, s.key(kind, id), "v", "c", "m")
			cmds[i].memberOf = p.HGetAll(ctx, s.prefix+"memberof:"+id)
			if opts.Members {
				cmds[i].members = p.HGetAll(ctx, s.prefix+"members:"+id)
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redisstore: read %s: %w", kind, err)
	}
	out := make([]governance.Resource, 0, len(ids))
	for i, id := range ids {
		meta := cmds[i].meta.Val()
		if len(meta) != 3 || meta[0] == nil {
			continue
		}
		doc, _ := docs.Val()[i].(string)
		var members map[string]string
		if cmds[i].members != nil {
			members = cmds[i].members.Val()
		}
		res, err := assemble(kind, id, doc, meta, cmds[i].memberOf.Val(), members)
		if err != nil {
			return nil, err
		}
		out = append(out, res)
	}
	return out, nil
}

// assemble builds a resource from its stored parts: meta is the hash's v, c and m fields;
// memberOf maps group ids to names; members maps member ids to "kind NUL name".
func assemble(kind governance.Kind, id, doc string, meta []any, memberOf, members map[string]string) (governance.Resource, error) {
	res := governance.Resource{Kind: kind, ID: id, Document: []byte(doc)}
	var v, c, m int64
	var err error
	if v, err = parseInt(meta[0]); err == nil {
		if c, err = parseInt(meta[1]); err == nil {
			m, err = parseInt(meta[2])
		}
	}
	if err != nil {
		return res, fmt.Errorf("redisstore: %s %s: %w", kind, id, err)
	}
	res.Version, res.Created, res.Modified = v, time.UnixMicro(c).UTC(), time.UnixMicro(m).UTC()
	for gid, display := range memberOf {
		res.MemberOf = append(res.MemberOf, governance.Ref{ID: gid, Display: display})
	}
	sort.Slice(res.MemberOf, func(a, b int) bool { return res.MemberOf[a].ID < res.MemberOf[b].ID })
	for mid, entry := range members {
		k, display, _ := strings.Cut(entry, "\x00")
		res.Members = append(res.Members, governance.Member{ID: mid, Kind: governance.Kind(k), Display: display})
	}
	sort.Slice(res.Members, func(a, b int) bool { return res.Members[a].ID < res.Members[b].ID })
	return res, nil
}

func parseInt(v any) (int64, error) {
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("unexpected %T in a resource hash", v)
	}
	return strconv.ParseInt(s, 10, 64)
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
