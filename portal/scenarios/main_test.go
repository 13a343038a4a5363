package scenarios_test

import (
	"testing"

	"github.com/gatehouse-iam/gatehouse/internal/browsertest"
)

func TestMain(m *testing.M) { browsertest.Main(m) }
