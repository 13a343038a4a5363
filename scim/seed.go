package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// Seed loads demo users and groups into an empty store through the same validation an IdP's
// requests go through. It does nothing when users exist already.
func (s *Server) Seed(ctx context.Context, users, groups []byte) error {
	store := s.handlers[userKind.endpoint].store
	existing, err := store.List(ctx, governance.KindUser, 0, 0, governance.ReadOptions{})
	if err != nil || existing.Total > 0 {
		return err
	}
	var userBodies []map[string]any
	if err := json.Unmarshal(users, &userBodies); err != nil {
		return fmt.Errorf("scim: seed users: %w", err)
	}
	idOf := func(userName string) (string, error) {
		found, err := store.FindUnique(ctx, governance.KindUser, userName, governance.ReadOptions{})
		if err != nil {
			return "", fmt.Errorf("scim: seed: user %q: %w", userName, err)
		}
		if len(found) == 0 {
			return "", fmt.Errorf("scim: seed: no user %q", userName)
		}
		return found[0].ID, nil
	}
	for _, u := range userBodies {
		if ext, ok := u[enterpriseSchemaID].(map[string]any); ok {
			if mgr, ok := ext["managerUserName"].(string); ok {
				id, err := idOf(mgr)
				if err != nil {
					return err
				}
				ext["manager"] = map[string]any{"value": id}
				delete(ext, "managerUserName")
			}
		}
		if err := s.post(ctx, userKind.endpoint, u); err != nil {
			return err
		}
	}
	var groupBodies []struct {
		DisplayName string   `json:"displayName"`
		Members     []string `json:"members"`
	}
	if err := json.Unmarshal(groups, &groupBodies); err != nil {
		return fmt.Errorf("scim: seed groups: %w", err)
	}
	for _, g := range groupBodies {
		members := []any{}
		for _, m := range g.Members {
			id, err := idOf(m)
			if err != nil {
				return err
			}
			members = append(members, map[string]any{"value": id})
		}
		body := map[string]any{"schemas": []string{groupSchemaID}, "displayName": g.DisplayName, "members": members}
		if err := s.post(ctx, groupKind.endpoint, body); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) post(ctx context.Context, endpoint string, body map[string]any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(raw))
	rec := httptest.NewRecorder()
	s.lib.ServeHTTP(rec, req)
	if rec.Code != http.StatusCreated {
		return fmt.Errorf("scim: seed %s: %d %s", endpoint, rec.Code, rec.Body.String())
	}
	return nil
}
