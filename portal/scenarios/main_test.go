// Package scenarios_test walks the portal's flows as people do, in a real browser, against the
// real gatehouse binary in its demo configuration (internal/browsertest): every page a flow
// opens is checked with axe-core and photographed at laptop and phone width.
package scenarios_test

import (
	"testing"

	"github.com/gatehouse-iam/gatehouse/internal/browsertest"
)

func TestMain(m *testing.M) { browsertest.Main(m) }
