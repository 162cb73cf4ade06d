package services

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdoctor/netdoctor/internal/finding"
	"github.com/netdoctor/netdoctor/internal/snapshot"
)

// LoadBalancerCheck is the name of the check LoadBalancers reports.
const LoadBalancerCheck = "services/loadbalancers"

const (
	// lbShortPending is how long a new LoadBalancer Service may wait for
	// its address before that is worth more than an info finding.
	lbShortPending = 2 * time.Minute
	// lbLongPending is how long before waiting with no cause is critical.
	lbLongPending = 10 * time.Minute
	// lbTransientLasting is how long a transient failure may last before
	// the explanation says it is no longer behaving like one.
	lbTransientLasting = 30 * time.Minute
	// lbMaxEvents bounds the events quoted as evidence (most recent kept).
	lbMaxEvents = 8
	// lbMaxMessage bounds an event message quoted as evidence.
	lbMaxMessage = 700
	// lbMaxResources bounds the Azure resource IDs listed as evidence.
	lbMaxResources = 4
	// lbMaxEarlier bounds the earlier failures classified for the
	// "earlier failures" evidence (most recent kept).
	lbMaxEarlier = 20
)

// azureAnnotationPrefix marks the Service annotations the Azure cloud
// provider reads; they are quoted as evidence.
const azureAnnotationPrefix = "service.beta.kubernetes.io/azure-"

// LoadBalancers reports LB001 for every Service of type LoadBalancer that
// has no address in status.loadBalancer.ingress, with how long it has been
// pending, the load balancer events on it, and the classified cause of the
// latest failure (see lbCauses). It reports the check
// "services/loadbalancers".
func LoadBalancers(s *snapshot.Snapshot) finding.Result {
	var res finding.Result
	eventsReason, eventsSkipped := s.Skipped("events")
	now := s.Now()
	var total, pending, inProgress int
	// seen caches the cause of each distinct failure message: clusters
	// with many failing Services repeat the same few messages.
	seen := map[string]string{}
	for i := range s.Services {
		svc := &s.Services[i]
		if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || svc.DeletionTimestamp != nil {
			continue
		}
		total++
		if hasIngress(svc) {
			continue
		}
		var evs []*corev1.Event
		if !eventsSkipped {
			evs = serviceEvents(s, svc)
		}
		f := diagnoseLB(svc, evs, now, eventsSkipped, eventsReason, seen)
		res.Add(f)
		if f.Severity == finding.Info {
			inProgress++
		} else {
			pending++
		}
	}
	var reason string
	switch {
	case total == 0:
		reason = "no Services of type LoadBalancer"
	case pending > 0:
		reason = fmt.Sprintf("%d of %s without an external IP", pending, plural(total, "LoadBalancer Service"))
	case inProgress > 0:
		reason = fmt.Sprintf("%s, %d still being created (pending less than %s)", plural(total, "LoadBalancer Service"), inProgress, humanDuration(lbShortPending))
	default:
		reason = fmt.Sprintf("%s, all with an external IP", plural(total, "LoadBalancer Service"))
	}
	if eventsSkipped && pending+inProgress > 0 {
		reason += "; events were not collected (" + eventsReason + "), so the cause could not be read"
	}
	status := finding.Passed
	if pending > 0 {
		status = finding.Failed
	}
	res.Check(LoadBalancerCheck, status, reason)
	return res
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// hasIngress reports whether the cloud provider published an address.
func hasIngress(svc *corev1.Service) bool {
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if in.IP != "" || in.Hostname != "" {
			return true
		}
	}
	return false
}

// serviceEvents returns the events about this Service, oldest first,
// leaving out those about an earlier Service of the same name.
func serviceEvents(s *snapshot.Snapshot, svc *corev1.Service) []*corev1.Event {
	var out []*corev1.Event
	for _, ev := range s.Index().Events("Service", svc.Namespace, svc.Name) {
		if ev.InvolvedObject.UID != "" && svc.UID != "" && ev.InvolvedObject.UID != svc.UID {
			continue
		}
		out = append(out, ev)
	}
	return out
}

// lbState is the outcome of reading one pending Service: the cause, what
// was parsed from the failure, and the evidence gathered on the way.
type lbState struct {
	cause    lbCause
	severity finding.Severity
	parsed   azureError
	evidence []string
	// extra is appended to the cause's explanation.
	extra string
}

// diagnoseLB builds the LB001 finding for one Service without an address.
func diagnoseLB(svc *corev1.Service, evs []*corev1.Event, now time.Time, eventsSkipped bool, eventsReason string, seen map[string]string) finding.Finding {
	age, known := pendingFor(svc, now)
	st := lbState{}
	st.evidence = append(st.evidence, pendingEvidence(svc, now, age, known))
	if req := requestedDescription(svc); req != "" {
		st.evidence = append(st.evidence, "requested: "+req)
	}
	var failures, normals []*corev1.Event
	for _, ev := range evs {
		if ev.Type == corev1.EventTypeWarning {
			failures = append(failures, ev)
		} else {
			normals = append(normals, ev)
		}
	}
	switch {
	case eventsSkipped:
		st.cause = eventsUnreadableCause
		st.severity = ageSeverity(age, known)
		st.evidence = append(st.evidence, "events were not collected: "+eventsReason)
	case len(evs) > 0:
		st.evidence = append(st.evidence, eventEvidence(evs, now)...)
	}
	// A success after the latest failure supersedes it.
	succeeded := len(normals) > 0 && normals[len(normals)-1].Reason == "EnsuredLoadBalancer" &&
		(len(failures) == 0 || snapshot.EventTime(normals[len(normals)-1]).After(snapshot.EventTime(failures[len(failures)-1])))
	switch {
	case eventsSkipped:
	case succeeded:
		st.cause = ensuredNoStatusCause
		st.severity = finding.Warning
	case len(failures) > 0:
		latest := failures[len(failures)-1]
		st.cause, st.parsed = classify(latest.Message)
		st.severity = finding.Critical
		st.evidence = append(st.evidence, parsedEvidence(st.parsed)...)
		if others := otherCauses(failures[:len(failures)-1], st.cause.ID, seen); len(others) > 0 {
			st.evidence = append(st.evidence, "earlier failures on this Service: "+strings.Join(others, "; "))
		}
		if st.cause.Transient && known && age > lbTransientLasting {
			st.extra = fmt.Sprintf(" This Service has been pending for %s, longer than a transient failure usually lasts: look for what keeps the load balancer busy or the subscription throttled.", humanDuration(age))
		}
	case svc.Spec.LoadBalancerClass != nil && *svc.Spec.LoadBalancerClass != "":
		st.cause = otherClassCause
		st.severity = ageSeverity(age, known)
		if len(evs) == 0 {
			st.evidence = append(st.evidence, "no events on the Service: the controller for load balancer class "+*svc.Spec.LoadBalancerClass+" has not reported anything")
		}
	case len(evs) == 0:
		st.cause = noControllerCause
		st.severity = ageSeverity(age, known)
		st.evidence = append(st.evidence, "no events on the Service at all (events were collected): no service controller has tried to create its load balancer")
	default:
		switch {
		case known && age < lbShortPending:
			st.cause = inProgressCause
			st.severity = finding.Info
		default:
			st.cause = stalledCause
			st.severity = finding.Warning
		}
	}
	vals := placeholderValues(svc, st.parsed, age, known)
	if len(evs) > 0 {
		if t := snapshot.EventTime(evs[len(evs)-1]); !t.IsZero() {
			vals["lastEvent"] = humanDuration(now.Sub(t))
		}
	}
	expl := render(st.cause.Explanation, vals, false) + st.extra
	var fix []string
	for _, l := range st.cause.Fix {
		fix = append(fix, render(l, vals, true))
	}
	return finding.Finding{
		Code:        "LB001",
		Severity:    st.severity,
		Title:       fmt.Sprintf("LoadBalancer Service %s/%s has no external IP: %s", svc.Namespace, svc.Name, st.cause.Title),
		Subjects:    []finding.Subject{{Kind: "Service", Namespace: svc.Namespace, Name: svc.Name}},
		Evidence:    st.evidence,
		Explanation: expl,
		Remediation: fix,
	}
}

// The causes LB001 names when there is no failure message to classify.
var (
	eventsUnreadableCause = lbCause{
		ID:    "events-unreadable",
		Title: "the cause could not be read (events were not collected)",
		Explanation: "The cloud provider writes why it could not create the load balancer as events on the Service, and netdoctor could not read events. " +
			"Without them the cause cannot be named.",
		Fix: []string{
			`kubectl describe service -n {namespace} {name}   # the events, read directly`,
			`# or let netdoctor read them: grant list on events (see deploy/) and run it again`,
		},
	}
	otherClassCause = lbCause{
		ID:    "load-balancer-class",
		Title: "it names a load balancer class another controller owns",
		Explanation: "The Service sets spec.loadBalancerClass, so the cloud provider's service controller leaves it alone: only the controller implementing that class (for example a MetalLB, kube-vip or cloud load balancer controller installed in the cluster) assigns its address. " +
			"Either that controller is not installed or not running, or it failed without writing an event.",
		Fix: []string{
			`kubectl get pods -A | grep -i -e metallb -e kube-vip -e load-balancer   # the controller for the class: read its logs`,
			`# or recreate the Service without spec.loadBalancerClass (immutable) to let the cloud provider handle it`,
		},
	}
	noControllerCause = lbCause{
		ID:    "no-controller",
		Title: "no cloud controller has acted on it",
		Explanation: "The service controller (in cloud-controller-manager, or in kube-controller-manager with --cloud-provider) writes EnsuringLoadBalancer on every attempt and retries a failure within minutes, so a Service with no events at all was never tried. " +
			"Either no cloud provider is configured (bare metal, kind and other local clusters have none unless a load balancer controller such as MetalLB is installed), or the controller is down or not leading.",
		Fix: []string{
			`kubectl -n kube-system get pods -l component=cloud-controller-manager`,
			`kubectl -n kube-system get leases cloud-controller-manager kube-controller-manager   # is a controller leading?`,
			`az aks show -g <CLUSTER-RG> -n <CLUSTER> --query "{state:provisioningState, power:powerState.code}"   # AKS runs the controller in its control plane: if healthy, open a support request`,
			`# without a cloud provider, install a load balancer controller (e.g. MetalLB) or use a NodePort Service`,
		},
	}
	inProgressCause = lbCause{
		ID:    "in-progress",
		Title: "the load balancer is being created",
		Explanation: "The service controller started creating the load balancer ({age} ago) and has not reported a failure: creating a frontend and a public IP usually takes under a minute or two. " +
			"Nothing to do yet.",
		Fix: []string{`kubectl get service -n {namespace} {name} -w`},
	}
	stalledCause = lbCause{
		ID:    "stalled",
		Title: "the ensurer started but has neither finished nor failed",
		Explanation: "The service controller started creating the load balancer and has reported neither success nor failure since: its latest event is {lastEvent} old, and the Service has been pending for {age}. " +
			"It may be waiting on a long Azure operation, or the controller restarted or lost leadership in the middle. Failure events expire after an hour (kube-apiserver --event-ttl), but a failing Service gets a new one on every retry, at least every 5 minutes.",
		Fix: []string{
			`kubectl describe service -n {namespace} {name}   # read the events again in a few minutes`,
			activityLogFix,
		},
	}
	ensuredNoStatusCause = lbCause{
		ID:          "ensured-no-status",
		Title:       "the ensurer reported success but no address was published",
		Explanation: "EnsuredLoadBalancer came after the latest failure, yet status.loadBalancer.ingress is empty: the cloud provider returned no address, or writing the Service status failed (that failure is reported as 'failed to update load balancer status' on the next attempt).",
		Fix: []string{
			`kubectl describe service -n {namespace} {name}   # read the events again in a few minutes`,
			activityLogFix,
		},
	}
)

// pendingFor is how long the Service has existed at the snapshot time.
func pendingFor(svc *corev1.Service, now time.Time) (time.Duration, bool) {
	if svc.CreationTimestamp.IsZero() || now.IsZero() {
		return 0, false
	}
	d := now.Sub(svc.CreationTimestamp.Time)
	if d < 0 {
		d = 0
	}
	return d, true
}

// ageSeverity grades waiting with no classified failure.
func ageSeverity(age time.Duration, known bool) finding.Severity {
	switch {
	case !known:
		return finding.Warning
	case age < lbShortPending:
		return finding.Info
	case age < lbLongPending:
		return finding.Warning
	}
	return finding.Critical
}

func pendingEvidence(svc *corev1.Service, now time.Time, age time.Duration, known bool) string {
	if !known {
		return "type LoadBalancer, status.loadBalancer.ingress is empty; creation time unknown"
	}
	return fmt.Sprintf("type LoadBalancer, status.loadBalancer.ingress is empty: pending for %s (created %s, snapshot taken %s)",
		humanDuration(age), svc.CreationTimestamp.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
}

// requestedDescription lists what the Service asks of the load balancer:
// a fixed IP, a class, and the Azure annotations.
func requestedDescription(svc *corev1.Service) string {
	var parts []string
	if svc.Spec.LoadBalancerIP != "" {
		parts = append(parts, "spec.loadBalancerIP="+svc.Spec.LoadBalancerIP)
	}
	if c := svc.Spec.LoadBalancerClass; c != nil && *c != "" {
		parts = append(parts, "spec.loadBalancerClass="+*c)
	}
	var keys []string
	for k := range svc.Annotations {
		if strings.HasPrefix(k, azureAnnotationPrefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, "annotation "+k+"="+svc.Annotations[k])
	}
	return strings.Join(parts, ", ")
}

// eventEvidence quotes the most recent events, one line each, the way
// kubectl describe shows them, with times relative to the snapshot.
func eventEvidence(evs []*corev1.Event, now time.Time) []string {
	var out []string
	shown := evs
	if len(shown) > lbMaxEvents {
		shown = shown[len(shown)-lbMaxEvents:]
		out = append(out, fmt.Sprintf("%d older events not shown", len(evs)-lbMaxEvents))
	}
	for _, ev := range shown {
		out = append(out, eventLine(ev, now))
	}
	return out
}

func eventLine(ev *corev1.Event, now time.Time) string {
	last := snapshot.EventTime(ev)
	first := ev.FirstTimestamp.Time
	if first.IsZero() {
		first = ev.EventTime.Time
	}
	count := ev.Count
	if ev.Series != nil {
		// events.k8s.io/v1 style: eventTime is the first occurrence.
		if ev.Series.Count > count {
			count = ev.Series.Count
		}
		if t := ev.Series.LastObservedTime.Time; t.After(last) {
			last = t
		}
	}
	if first.IsZero() || first.After(last) {
		first = last
	}
	var when string
	switch {
	case last.IsZero():
		when = "at an unknown time"
	case count > 1:
		when = fmt.Sprintf("x%d, first %s and last %s before the snapshot (%s)", count,
			humanDuration(now.Sub(first)), humanDuration(now.Sub(last)), last.UTC().Format(time.RFC3339))
	default:
		when = fmt.Sprintf("once, %s before the snapshot (%s)", humanDuration(now.Sub(last)), last.UTC().Format(time.RFC3339))
	}
	from := ev.Source.Component
	if from == "" {
		from = ev.ReportingController
	}
	if from == "" {
		from = "unknown source"
	}
	return fmt.Sprintf("%s %s %s, from %s: %s", ev.Type, ev.Reason, when, from, trimMessage(ev.Message, lbMaxMessage))
}

// parsedEvidence states what was read out of the latest failure.
func parsedEvidence(e azureError) []string {
	var out []string
	if len(e.Codes) > 0 {
		line := "Azure error code " + strings.Join(e.Codes, ", ")
		if len(e.Statuses) > 0 {
			var ss []string
			for _, s := range e.Statuses {
				ss = append(ss, fmt.Sprint(s))
			}
			line += " (HTTP " + strings.Join(ss, ", ") + ")"
		}
		out = append(out, line)
	} else if len(e.Statuses) > 0 {
		var ss []string
		for _, s := range e.Statuses {
			ss = append(ss, fmt.Sprint(s))
		}
		out = append(out, "HTTP status "+strings.Join(ss, ", "))
	}
	if e.Action != "" {
		who := "the cluster identity"
		if e.ObjectID != "" {
			who = "identity with object id " + e.ObjectID
		}
		out = append(out, fmt.Sprintf("%s may not perform %s on %s", who, e.Action, e.Scope))
	}
	var res []string
	for _, r := range e.Resources {
		if strings.EqualFold(r, e.Scope) {
			continue
		}
		res = append(res, r)
	}
	if len(res) > lbMaxResources {
		res = append(res[:lbMaxResources], fmt.Sprintf("and %d more", len(res)-lbMaxResources))
	}
	if len(res) > 0 {
		out = append(out, "Azure resources named in the error: "+strings.Join(res, ", "))
	}
	return out
}

// otherCauses names the causes of earlier failures that differ from the
// latest one, with how many events each had. seen caches the cause of a
// message.
func otherCauses(failures []*corev1.Event, latest string, seen map[string]string) []string {
	if len(failures) > lbMaxEarlier {
		failures = failures[len(failures)-lbMaxEarlier:]
	}
	counts := map[string]int{}
	var order []string
	for _, ev := range failures {
		id, ok := seen[ev.Message]
		if !ok {
			id = causeOf(ev.Message).ID
			seen[ev.Message] = id
		}
		if id == latest {
			continue
		}
		if counts[id] == 0 {
			order = append(order, id)
		}
		n := int(ev.Count)
		if n < 1 {
			n = 1
		}
		counts[id] += n
	}
	var out []string
	for _, id := range order {
		out = append(out, fmt.Sprintf("%s (%d events)", lbCausesByID[id].Title, counts[id]))
	}
	return out
}

// placeholderValues fills the cause templates from the Service and the
// parsed error; an empty value means unknown.
func placeholderValues(svc *corev1.Service, e azureError, age time.Duration, known bool) map[string]string {
	ann := svc.Annotations
	ip := e.IP
	if ip == "" {
		ip = svc.Spec.LoadBalancerIP
	}
	if ip == "" {
		ip = ann[azureAnnotationPrefix+"load-balancer-ipv4"]
	}
	pip := e.PIPName
	if pip == "" {
		pip = ann[azureAnnotationPrefix+"pip-name"]
	}
	rg := e.ResourceGroup
	if rg == "" {
		rg = ann[azureAnnotationPrefix+"load-balancer-resource-group"]
	}
	subnet := e.Subnet
	if subnet == "" {
		subnet = ann[azureAnnotationPrefix+"load-balancer-internal-subnet"]
	}
	requested := requestedDescription(svc)
	ageText := ""
	if known {
		ageText = humanDuration(age)
	}
	return map[string]string{
		"objectID":      e.ObjectID,
		"action":        e.Action,
		"scope":         e.Scope,
		"ip":            ip,
		"pipName":       pip,
		"resourceGroup": rg,
		"vnet":          e.VNet,
		"subnet":        subnet,
		"namespace":     svc.Namespace,
		"name":          svc.Name,
		"requested":     requested,
		"age":           ageText,
		// lastEvent is filled by diagnoseLB: the time since the latest event.
		"lastEvent": "",
	}
}

var rePlaceholder = regexp.MustCompile(`\{([a-zA-Z]+)\}`)

// render fills {placeholders}. In a command an unknown value becomes
// <UPPER-CASE> for the user to fill in; in prose it says it is unknown.
func render(text string, vals map[string]string, command bool) string {
	return rePlaceholder.ReplaceAllStringFunc(text, func(m string) string {
		key := m[1 : len(m)-1]
		v, ok := vals[key]
		if !ok {
			return m
		}
		if v != "" {
			return v
		}
		if command {
			return "<" + strings.ToUpper(kebab(key)) + ">"
		}
		return "(not in the message)"
	})
}

// kebab turns objectID into object-id.
func kebab(s string) string {
	var b strings.Builder
	prevLower := false
	for _, r := range s {
		upper := r >= 'A' && r <= 'Z'
		if upper {
			if prevLower {
				b.WriteByte('-')
			}
			r += 'a' - 'A'
		}
		prevLower = !upper
		b.WriteRune(r)
	}
	return b.String()
}

var (
	// reRetriableRun is the cloud provider's retry wrapper repeated when an
	// error is wrapped several times; only the innermost one says anything.
	reRetriableRun = regexp.MustCompile(`(?:Retriable: (?:true|false), RetryAfter: \d+s, HTTPStatusCode: -?\d+, RawError: ){2,}`)
	reRetriableOne = regexp.MustCompile(`Retriable: (?:true|false), RetryAfter: \d+s, HTTPStatusCode: -?\d+, RawError: `)
)

// trimMessage shortens a long event message for evidence: whitespace
// collapsed, repeated retry wrappers folded into the innermost, and the
// middle cut out (the head says what failed, the tail usually ends the
// Azure message). The error code and resource IDs are quoted separately.
func trimMessage(msg string, limit int) string {
	msg = strings.Join(strings.Fields(msg), " ")
	if len(msg) <= limit {
		return msg
	}
	msg = reRetriableRun.ReplaceAllStringFunc(msg, func(run string) string {
		all := reRetriableOne.FindAllString(run, -1)
		return all[len(all)-1]
	})
	r := []rune(msg)
	if len(r) <= limit {
		return msg
	}
	tail := limit / 4
	head := limit - tail
	return string(r[:head]) + " [...] " + string(r[len(r)-tail:])
}

// humanDuration prints a duration the way kubectl prints ages: 45s, 12m,
// 3h5m, 2d4h.
func humanDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < 10*time.Minute:
		m := int(d / time.Minute)
		s := int((d % time.Minute) / time.Second)
		if s == 0 {
			return fmt.Sprintf("%dm", m)
		}
		return fmt.Sprintf("%dm%ds", m, s)
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		h := int(d / time.Hour)
		m := int((d % time.Hour) / time.Minute)
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh%dm", h, m)
	}
	days := int(d / (24 * time.Hour))
	h := int((d % (24 * time.Hour)) / time.Hour)
	if h == 0 {
		return fmt.Sprintf("%dd", days)
	}
	return fmt.Sprintf("%dd%dh", days, h)
}
