package snapshot

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

type metaTime = time.Time

// EventTime is the most recent time an event was seen (lastTimestamp,
// eventTime, firstTimestamp or creation, whichever is set first).
func EventTime(ev *corev1.Event) time.Time { return eventTime(ev) }
