package api

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/store"
)

// WebhookDeliveryList is the recent webhook deliveries of a GitHub or
// GitLab repository, newest first: what its forge sent, and what came of
// each (docs/webhooks.md).
type WebhookDeliveryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Repository      string            `json:"repository"`
	Items           []WebhookDelivery `json:"items"`
}

// WebhookDelivery is one delivery, without its payload.
type WebhookDelivery struct {
	// ID is the forge's id of the delivery (X-GitHub-Delivery,
	// X-Gitlab-Event-UUID).
	ID       string      `json:"id"`
	Forge    string      `json:"forge"`
	Event    string      `json:"event"`
	Received metav1.Time `json:"received"`
	// Outcome is one of the Delivery* outcomes.
	Outcome  string `json:"outcome"`
	Attempts int    `json:"attempts"`
	// Processed is when the last attempt ended.
	Processed *metav1.Time `json:"processed,omitempty"`
	// Message says why the delivery failed, is tried again, or was not
	// acted on.
	Message string `json:"message,omitempty"`
}

// Outcomes of a webhook delivery.
const (
	DeliveryPending    = "Pending"    // not processed yet
	DeliveryRetrying   = "Retrying"   // an attempt failed; tried again
	DeliveryProcessed  = "Processed"  // acted on
	DeliveryNotActedOn = "NotActedOn" // recorded, and nothing to do (a payload that does not parse, one about another repository)
	DeliveryFailed     = "Failed"     // given up, or refused by the forge
)

// Bounds of a page of deliveries.
const (
	defaultDeliveries = 50
	maxDeliveries     = 500
)

func deliveryOutcome(d store.Delivery) string {
	switch {
	case !d.Done && d.Attempts == 0:
		return DeliveryPending
	case !d.Done:
		return DeliveryRetrying
	case d.Error == "":
		return DeliveryProcessed
	case strings.HasPrefix(d.Error, store.DeliveryNotActedOn):
		return DeliveryNotActedOn
	}
	return DeliveryFailed
}

// listDeliveries answers GET .../repositories/{name}/deliveries: pages of
// limit (default 50, at most 500) deliveries, newest first; the list's
// continue token asks for the next page.
func (s *Server) listDeliveries(c echo.Context) error {
	ns, name := c.Param("ns"), c.Param("name")
	if err := authorize(c, ns, store.RoleRead); err != nil {
		return err
	}
	q := c.QueryParams()
	limit := defaultDeliveries
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			return badRequest("limit %q: want a non-negative integer", l)
		}
		if n > 0 {
			limit = min(n, maxDeliveries)
		}
	}
	var before int64
	if cont := q.Get("continue"); cont != "" {
		n, err := strconv.ParseInt(cont, 10, 64)
		if err != nil || n <= 0 {
			return newStatus(http.StatusGone, metav1.StatusReasonExpired, "continue %q: not a token of this list", cont)
		}
		before = n
	}
	ctx := c.Request().Context()
	if _, err := s.store.GetRepository(ctx, ns, name); err != nil {
		return repoErr(err, name)
	}
	ds, err := s.store.RecentDeliveries(ctx, ns, name, before, limit+1)
	if err != nil {
		return err
	}
	out := WebhookDeliveryList{TypeMeta: metav1.TypeMeta{APIVersion: configv1alpha1.APIVersion, Kind: "WebhookDeliveryList"},
		Repository: name, Items: []WebhookDelivery{}}
	if len(ds) > limit {
		ds = ds[:limit]
		out.Continue = strconv.FormatInt(ds[limit-1].ID, 10)
	}
	for _, d := range ds {
		w := WebhookDelivery{ID: d.DeliveryID, Forge: d.Forge, Event: d.Event, Received: metav1.NewTime(d.ReceivedAt),
			Outcome: deliveryOutcome(d), Attempts: d.Attempts, Message: d.Error}
		if !d.ProcessedAt.IsZero() {
			t := metav1.NewTime(d.ProcessedAt)
			w.Processed = &t
		}
		out.Items = append(out.Items, w)
	}
	return writeJSON(c, http.StatusOK, out)
}
