package conformance

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-iam/gatehouse/internal/redistest"
)

// The same gateway on Redis Cluster and behind Sentinel, configured through the file: the
// scripts, MGETs and transactions must all stay on the namespace's one slot.
func TestRedisTopologies(t *testing.T) {
	t.Run("cluster", func(t *testing.T) {
		cluster, err := redistest.StartCluster(3)
		if err != nil {
			t.Fatal(err)
		}
		defer cluster.Stop()
		redisYAML := "  clusterAddrs: [" + strings.Join(cluster.Addrs(), ", ") + "]"
		exercise(t, redisYAML)
	})
	t.Run("sentinel", func(t *testing.T) {
		master, err := redistest.Start()
		if err != nil {
			t.Fatal(err)
		}
		defer master.Stop()
		sentinel, err := redistest.StartSentinel(master, "gatehouse")
		if err != nil {
			t.Fatal(err)
		}
		defer sentinel.Stop()
		exercise(t, "  sentinel:\n    masterName: gatehouse\n    addrs: ["+sentinel.Addr+"]")
	})
}

// exercise runs a short IdP conversation through a gateway on the given Redis topology.
func exercise(t *testing.T, redisYAML string) {
	g, err := startGatewayWith(t.TempDir(), "topology", redisYAML)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := g.stop(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}()
	var ids []string
	for i := range 5 {
		ids = append(ids, str(g.createUser(t, fmt.Sprintf("topo-%d", i))["id"]))
	}
	g.call(t, "POST", "/Users", newUser("TOPO-0")).wantError(t, 409, "uniqueness")
	gid := str(g.createGroup(t, "topo-group", ids[:3]...)["id"])
	g.call(t, "PATCH", "/Groups/"+gid, patchOp(map[string]any{"op": "remove", "path": `members[value eq "` + ids[0] + `"]`})).want(t, 204)
	found := g.call(t, "GET", "/Users?filter="+url.QueryEscape(`userName eq "topo-1"`), nil).want(t, 200).body
	if get(found, "Resources.0.groups.0.value") != gid {
		t.Fatalf("lookup: %v", found)
	}
	page := g.call(t, "GET", "/Users?startIndex=2&count=2", nil).want(t, 200).body
	if page["totalResults"] != 5.0 || get(page, "Resources.0.userName") != "topo-1" {
		t.Fatalf("page: %v", page)
	}
	g.call(t, "PATCH", "/Users/"+ids[1], patchOp(map[string]any{"op": "replace", "path": "active", "value": false})).want(t, 200)
	g.call(t, "DELETE", "/Users/"+ids[2], nil).want(t, 204)
	members, _ := g.call(t, "GET", "/Groups/"+gid, nil).want(t, 200).body["members"].([]any)
	if len(members) != 1 || get(members[0], "value") != ids[1] {
		t.Fatalf("members: %v", members)
	}
}
