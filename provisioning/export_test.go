package provisioning

import (
	"context"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// ApplyForTest applies one grant as Reconcile would, from the copy given: the way to play a
// worker that read the grant before someone else changed it.
func (w *Worker) ApplyForTest(ctx context.Context, g governance.Grant) error {
	view := w.sweepView()
	app, err := view.apps.get(ctx, g.Application)
	if err != nil {
		return err
	}
	conn, _ := w.Connector(app.Connector)
	who, _, err := w.identity(ctx, g.Identity, view)
	if err != nil {
		return err
	}
	return w.apply(ctx, conn, who, g, view, true)
}
