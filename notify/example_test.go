package notify_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/openresync/resync"
	"github.com/openresync/resync/notify"
	"github.com/openresync/resync/resynctest"
)

// A Fanout delivers to every backend; one that fails does not keep the
// others from delivering, and its error comes back for the engine to
// retry.
func ExampleFanout() {
	var inApp resynctest.Notifier // stands in for the host's in-product notices
	smtpDown := notifierFunc(func(context.Context, resync.Notification) error {
		return errors.New("dial tcp 127.0.0.1:587: connection refused")
	})
	notifier := notify.Fanout{&inApp, smtpDown}

	n := resynctest.SampleNotifications("acme")[1]
	err := notifier.Notify(context.Background(), n)
	fmt.Println("delivered in-app:", len(inApp.Notifications()))
	fmt.Println(err)
	fmt.Println("retried by the engine:", !resync.IsPermanent(err))
	// Output:
	// delivered in-app: 1
	// notify: backend 1 (notify_test.notifierFunc): dial tcp 127.0.0.1:587: connection refused
	// retried by the engine: true
}
