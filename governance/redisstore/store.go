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
	if strings.Contains(w.Keys.Unique, "\x00") {
		return governance.Resource{}, fmt.Errorf("%w: unique value holds a NUL byte", governance.ErrInvalidKey)
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
	page, err := decodeRead(w.Kind, res[1:])
	if err != nil {
		return governance.Resource{}, err
	}
	if len(page.Resources) != 1 {
		return governance.Resource{}, fmt.Errorf("redisstore: write %s %s: no resource in the reply", w.Kind, w.ID)
	}
	return page.Resources[0], nil
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
	found, err := s.read(ctx, kind, "ids", opts, id)
	if err != nil {
		return governance.Resource{}, err
	}
	if len(found.Resources) == 0 {
		return governance.Resource{}, governance.ErrNotFound
	}
	return found.Resources[0], nil
}

func (s *Store) Version(ctx context.Context, kind governance.Kind, id string) (int64, error) {
	v, err := s.rdb.HGet(ctx, s.prefix+string(kind)+":"+id, "v").Int64()
	if errors.Is(err, redis.Nil) {
		return 0, governance.ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("redisstore: version of %s %s: %w", kind, id, err)
	}
	return v, nil
}

func (s *Store) FindUnique(ctx context.Context, kind governance.Kind, value string, opts governance.ReadOptions) ([]governance.Resource, error) {
	found, err := s.read(ctx, kind, "uniq", opts, strings.ToLower(value))
	return found.Resources, err
}

func (s *Store) FindLookup(ctx context.Context, kind governance.Kind, attr, value string, opts governance.ReadOptions) ([]governance.Resource, error) {
	if _, err := lookupEntry(governance.Lookup{Attr: attr, Value: value}); err != nil {
		// A value that cannot be stored cannot be found either.
		return nil, nil
	}
	found, err := s.read(ctx, kind, "lookup", opts, attr, value)
	return found.Resources, err
}

func (s *Store) List(ctx context.Context, kind governance.Kind, offset, count int, opts governance.ReadOptions) (governance.Page, error) {
	if count <= 0 {
		// ZRANGE with stop < start returns nothing but still counts.
		return s.read(ctx, kind, "page", opts, 1, 0)
	}
	return s.read(ctx, kind, "page", opts, offset, offset+count-1)
}

func (s *Store) read(ctx context.Context, kind governance.Kind, mode string, opts governance.ReadOptions, args ...any) (governance.Page, error) {
	withMembers := "0"
	if opts.Members {
		withMembers = "1"
	}
	all := append([]any{s.prefix, string(kind), mode, withMembers}, args...)
	res, err := readScript.Run(ctx, s.rdb, s.route, all...).Slice()
	if err != nil {
		return governance.Page{}, fmt.Errorf("redisstore: read %s %s: %w", kind, mode, err)
	}
	return decodeRead(kind, res)
}

// decodeRead turns the read script's flat reply into resources.
func decodeRead(kind governance.Kind, res []any) (governance.Page, error) {
	r := reply{items: res}
	page := governance.Page{Total: int(r.int())}
	for r.more() {
		item := governance.Resource{Kind: kind, ID: r.str()}
		item.Document = []byte(r.str())
		item.Version = r.int()
		item.Created = time.UnixMicro(r.int()).UTC()
		item.Modified = time.UnixMicro(r.int()).UTC()
		for n := r.int(); n > 0; n-- {
			item.MemberOf = append(item.MemberOf, governance.Ref{ID: r.str(), Display: r.str()})
		}
		for n := r.int(); n > 0; n-- {
			item.Members = append(item.Members, governance.Member{ID: r.str(), Kind: governance.Kind(r.str()), Display: r.str()})
		}
		sort.Slice(item.MemberOf, func(i, j int) bool { return item.MemberOf[i].ID < item.MemberOf[j].ID })
		sort.Slice(item.Members, func(i, j int) bool { return item.Members[i].ID < item.Members[j].ID })
		if r.err != nil {
			return governance.Page{}, r.err
		}
		page.Resources = append(page.Resources, item)
	}
	if page.Total < 0 {
		page.Total = len(page.Resources)
	}
	return page, r.err
}

// reply walks a flat script reply; the first malformed element stops it with an error.
type reply struct {
	items []any
	pos   int
	err   error
}

func (r *reply) more() bool { return r.err == nil && r.pos < len(r.items) }

func (r *reply) next() any {
	if r.pos >= len(r.items) {
		r.err = errors.New("redisstore: truncated script reply")
		return nil
	}
	v := r.items[r.pos]
	r.pos++
	return v
}

func (r *reply) str() string {
	switch v := r.next().(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	}
	r.fail()
	return ""
}

func (r *reply) int() int64 {
	switch v := r.next().(type) {
	case int64:
		return v
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		if err == nil {
			return n
		}
	}
	r.fail()
	return 0
}

func (r *reply) fail() {
	if r.err == nil {
		r.err = fmt.Errorf("redisstore: unexpected element %d in script reply", r.pos)
	}
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
