package reviews_test

import (
	"testing"

	"github.com/gatehouse-iam/gatehouse/internal/redistest"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
)

var srv *redistest.Server

func TestMain(m *testing.M) { redistest.Main(m, &srv) }

// The review cycles run on a real redis-server through the store the gateway runs, on a single
// node and on a Redis Cluster, as the store's own suite does.
var suite = map[string]func(*testing.T, storetest.Factory){
	"ReviewCycle":                       testReviewCycle,
	"ScheduledLaunchOnce":               testScheduledLaunchOnce,
	"ServiceAccountOwnersDoNotReviewIt": testServiceAccountOwnersDoNotReviewIt,
	"NobodyDecidesBothLevels":           testNobodyDecidesBothLevels,
	"RemindersAreEachTheirOwn":          testRemindersAreEachTheirOwn,
	"AssignedPages":                     testAssignedPages,
	"FilteredPages":                     testFilteredPages,
	"AuditIndexAgreesWithTheTrail":      testAuditIndexAgreesWithTheTrail,
	"ItemsOfGrantsAsEachAlone":          testItemsOfGrantsAsEachAlone,
}

func TestSingleNode(t *testing.T) { storetest.Run(t, storetest.SingleNode(srv), suite) }

func TestCluster(t *testing.T) { storetest.Run(t, storetest.Cluster(t), suite) }
