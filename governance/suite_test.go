package governance_test

import (
	"testing"

	"github.com/gatehouse-iam/gatehouse/internal/redistest"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
)

var srv *redistest.Server

func TestMain(m *testing.M) { redistest.Main(m, &srv) }

// The scenarios of the governed path run on a real redis-server through the store the gateway
// runs, on a single node and on a Redis Cluster, as the store's own suite does: the domain's
// promises hold on either deployment.
var suite = map[string]func(*testing.T, storetest.Factory){
	"RequestsOpenAndInboxes":              testRequestsOpenAndInboxes,
	"GrantsFromApprovedRequests":          testGrantsFromApprovedRequests,
	"LeaversLoseEverything":               testLeaversLoseEverything,
	"LeaversLoseTheirSessions":            testLeaversLoseTheirSessions,
	"CatalogChangesNeedASecondAdmin":      testCatalogChangesNeedASecondAdmin,
	"AccessFromRequestToGrant":            testAccessFromRequestToGrant,
	"AccessSeparationOfDuties":            testAccessSeparationOfDuties,
	"WhatIfManyIsWhatIfForEach":           testWhatIfManyIsWhatIfForEach,
	"ApprovedRequestsAlwaysGetTheirGrant": testApprovedRequestsAlwaysGetTheirGrant,
	"ApprovalFromAStaleCopy":              testApprovalFromAStaleCopy,
	"AuditForwardingAtLeastOnce":          testAuditForwardingAtLeastOnce,
	"GovernedGroups":                      testGovernedGroups,
	"ServiceAccounts":                     testServiceAccounts,
	"ServiceAccountDeadlines":             testServiceAccountDeadlines,
	"Scenarios":                           testScenarios,
	"OutOfBandGrantsThroughGrants":        testOutOfBandGrantsThroughGrants,
	"ApproversAreTold":                    testApproversAreTold,
	"ApprovalNoticesOncePerReplicaSet":    testApprovalNoticesOncePerReplicaSet,
	"InboxPagesByCursor":                  testInboxPagesByCursor,
	"RequestsPageNewestFirst":             testRequestsPageNewestFirst,
	"InboxPagesWhileDecided":              testInboxPagesWhileDecided,
}

func TestSingleNode(t *testing.T) { storetest.Run(t, storetest.SingleNode(srv), suite) }

func TestCluster(t *testing.T) { storetest.Run(t, storetest.Cluster(t), suite) }
