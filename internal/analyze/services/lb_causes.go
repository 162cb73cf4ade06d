package services

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// lbCause is one known reason a cloud provider's load balancer ensurer
// fails, with how to recognise it and what to do about it. The table
// lbCauses is data: adding a cause is adding an entry, never a new branch in
// code.
type lbCause struct {
	// ID is the stable kebab-case name of the cause.
	ID string
	// Title completes "LoadBalancer Service ns/name has no external IP: ...".
	Title string
	// Transient causes clear on their own; the service controller retries.
	Transient bool
	// Match lists the ways to recognise the cause; any one is enough.
	Match []lbMatcher
	// Explanation and Fix may hold placeholders ({objectID}, {action},
	// {scope}, {ip}, {pipName}, {resourceGroup}, {vnet}, {subnet},
	// {namespace}, {name}, {requested}, {age}) filled from the Service and
	// the error message.
	Explanation string
	Fix         []string
}

// lbMatcher recognises a cause in an error message. Every field that is set
// must match. Azure error codes come first; message text is used only where
// the failure has no code (errors raised by the cloud provider itself).
type lbMatcher struct {
	// Code is an Azure error code found in the message (case-insensitive);
	// a trailing "*" matches every code that starts with the rest.
	Code string
	// CodeSuffix matches any Azure error code ending with it.
	CodeSuffix string
	// Text is a substring of the message (case-insensitive).
	Text string
	// Status is an HTTP status code found in the message.
	Status int
}

// activityLogFix is the command that shows what Azure did to the load
// balancer and public IPs in the node resource group. Remediation lines
// are commands, with what they are for after "#".
const activityLogFix = `az monitor activity-log list -g $(az aks show -g <CLUSTER-RG> -n <CLUSTER> --query nodeResourceGroup -o tsv) --offset 2h ` +
	`--query "[?contains(resourceId, 'loadBalancers') || contains(resourceId, 'publicIPAddresses')].{time:eventTimestamp, op:operationName.value, status:status.value, caller:caller}" -o table` +
	`   # what Azure did to the load balancer and public IPs`

// lbCauses is the classification table, most specific first: the first
// cause with a matching matcher wins.
var lbCauses = []lbCause{
	{
		ID:    "identity-credentials",
		Title: "the cluster's Azure credentials are invalid or expired",
		Match: []lbMatcher{
			{Text: "AADSTS7000222"}, {Text: "AADSTS7000215"}, {Text: "invalid_client"},
			{Text: "Refresh request failed"}, {Text: "Failed to refresh the Token"},
			{Code: "InvalidAuthenticationToken"}, {Code: "ExpiredAuthenticationToken"},
		},
		Explanation: "The cloud provider could not obtain an Azure token for the cluster identity, so every Azure call it makes fails: " +
			"the service principal's secret has expired (AADSTS7000222), was changed (AADSTS7000215: invalid client secret), or the principal was deleted. " +
			"Not only load balancers are affected: routes, disks and node operations fail the same way.",
		Fix: []string{
			`az aks show -g <CLUSTER-RG> -n <CLUSTER> --query servicePrincipalProfile.clientId -o tsv   # the service principal the cluster uses`,
			`az ad app credential list --id <CLIENT-ID> -o table   # when its secrets expire`,
			`az aks update-credentials -g <CLUSTER-RG> -n <CLUSTER> --reset-service-principal --service-principal <CLIENT-ID> --client-secret <NEW-SECRET>`,
			`az aks update -g <CLUSTER-RG> -n <CLUSTER> --enable-managed-identity   # or stop depending on secrets`,
		},
	},
	{
		ID:    "identity-permission",
		Title: "the cluster identity lacks permission on a network resource",
		Match: []lbMatcher{
			{Code: "AuthorizationFailed"}, {Code: "LinkedAuthorizationFailed"},
			{Text: "does not have authorization to perform action"},
			{Text: "does not have permission to perform action"},
		},
		Explanation: "Azure refused the cluster identity (object id {objectID}) the action {action} on {scope}. " +
			"The cloud provider acts on Azure with the cluster's identity (the control-plane managed identity or the service principal). " +
			"It owns the node resource group, but a virtual network or subnet you brought, a route table, a network security group or a static public IP that lives in another resource group needs a role assignment there: " +
			"Network Contributor, or a custom role holding the missing action. " +
			"LinkedAuthorizationFailed means the write itself was allowed (on the load balancer or the scale set) but joining the linked resource was not: " +
			"Microsoft.Network/virtualNetworks/subnets/join/action on the subnet, or Microsoft.Network/publicIPAddresses/join/action on a public IP.",
		Fix: []string{
			`az role assignment create --assignee {objectID} --role "Network Contributor" --scope {scope}   # grant the missing permission`,
			`az aks show -g <CLUSTER-RG> -n <CLUSTER> --query "[identity.principalId, servicePrincipalProfile.clientId]" -o tsv   # check {objectID} is the cluster identity`,
			`kubectl get service -n {namespace} {name} -w   # role assignments take a few minutes; the service controller retries on its own (back-off up to 5 minutes)`,
		},
	},
	{
		ID:    "internal-subnet",
		Title: "the internal load balancer's subnet or private IP is invalid",
		Match: []lbMatcher{
			{Text: "failed to get subnet"},
			{Code: "PrivateIPAddressNotInSubnet"}, {Code: "PrivateIPAddressInReservedRange"},
			{Code: "PrivateIPAddressIsAllocated"}, {Code: "PrivateIPAddressInUse"},
			{Code: "SubnetIsFull"}, {Code: "InsufficientFreeIPsInSubnet"},
			{Code: "InvalidResourceReference", Text: "/subnets/"},
			{Code: "ResourceNotFound", Text: "virtualNetworks/subnets"},
			{Code: "NotFound", Text: "/subnets/"},
		},
		Explanation: "An internal load balancer (annotation service.beta.kubernetes.io/azure-load-balancer-internal: \"true\") puts its frontend in the subnet named by service.beta.kubernetes.io/azure-load-balancer-internal-subnet, or the node subnet when that annotation is absent. " +
			"The subnet ({subnet}) must exist in the cluster's virtual network ({vnet}); a requested private IP ({ip}, from spec.loadBalancerIP or service.beta.kubernetes.io/azure-load-balancer-ipv4) must lie inside that subnet's prefix, must not be one of the 5 addresses Azure reserves in every subnet, " +
			"and must not already be allocated to a NIC, a pod (Azure CNI) or another frontend.",
		Fix: []string{
			`az network vnet subnet list -g <VNET-RG> --vnet-name {vnet} --query "[].{name:name, prefix:addressPrefix}" -o table   # the subnets of the cluster's virtual network`,
			`kubectl annotate service -n {namespace} {name} service.beta.kubernetes.io/azure-load-balancer-internal-subnet=<SUBNET> --overwrite   # an existing subnet of that network`,
			`az network vnet check-ip-address -g <VNET-RG> -n {vnet} --ip-address {ip}   # is the requested private IP free?`,
		},
	},
	{
		ID:    "requested-ip",
		Title: "the requested public IP does not exist where the cloud provider looks",
		Match: []lbMatcher{
			{Text: "user supplied IP Address"},
			{Text: "cannot find public IP with IP address"},
			{Text: "PublicIP from annotation azure-pip-name"},
			{Code: "ResourceGroupNotFound"},
			{Code: "ResourceNotFound", Text: "publicIPAddresses"},
			{Code: "InvalidResourceReference", Text: "publicIPAddresses"},
			{Code: "NotFound", Text: "publicIPAddresses"},
		},
		Explanation: "The Service asks for a specific public IP ({requested}) and the cloud provider did not find it in resource group {resourceGroup}. " +
			"It looks only in the node resource group (MC_...) unless the Service names another one with service.beta.kubernetes.io/azure-load-balancer-resource-group: " +
			"a static IP created in the cluster's own resource group, or anywhere else, is 'not found'. " +
			"The IP must also be a static public IP of the load balancer's SKU (Standard for AKS) in the cluster's region, and, outside the node resource group, the cluster identity needs Network Contributor on its resource group.",
		Fix: []string{
			`az network public-ip list --query "[?ipAddress=='{ip}'].{name:name, rg:resourceGroup, sku:sku.name, location:location}" -o table   # where the IP lives`,
			`kubectl annotate service -n {namespace} {name} service.beta.kubernetes.io/azure-load-balancer-resource-group=<RG-OF-THE-IP> --overwrite   # tell the cloud provider where to look`,
			`az role assignment create --assignee <CLUSTER-IDENTITY> --role "Network Contributor" --scope /subscriptions/<SUB>/resourceGroups/<RG-OF-THE-IP>   # let the cluster identity use it`,
			`# or remove spec.loadBalancerIP and the IP annotations to get an address assigned`,
		},
	},
	{
		ID:    "sku-mismatch",
		Title: "the public IP's SKU does not match the load balancer's",
		Match: []lbMatcher{
			{Code: "PublicIPAndLBSkuDoNotMatch"},
			{Code: "DifferentSkuLoadBalancersAndPublicIPAddressNotAllowed"},
			{Text: "cannot reference Basic sku publicIP"},
		},
		Explanation: "A Standard load balancer (the AKS default) can only use Standard SKU public IPs, and a Basic one only Basic IPs. " +
			"The public IP the Service asks for ({requested}) has the other SKU, so the frontend cannot be created.",
		Fix: []string{
			`az network public-ip show --ids <PUBLIC-IP-ID> --query "{sku:sku.name, allocation:publicIPAllocationMethod}"   # the IP's SKU`,
			`az network public-ip create -g <RG> -n <NAME> --sku Standard --allocation-method Static   # a Standard static IP to use instead`,
			`# point the Service at it (spec.loadBalancerIP or service.beta.kubernetes.io/azure-pip-name); an attached Basic IP cannot be upgraded in place`,
		},
	},
	{
		ID:    "quota",
		Title: "an Azure quota or load balancer limit is reached",
		Match: []lbMatcher{
			{CodeSuffix: "LimitReached"}, {CodeSuffix: "LimitExceeded"},
			{Code: "QuotaExceeded"},
			{Code: "OperationNotAllowed", Text: "quota"},
		},
		Explanation: "Azure refused to create one more resource: the subscription's public IP addresses in this region (PublicIPCountLimitReached), or a per-load-balancer limit such as frontend IP configurations, rules or probes. " +
			"Every LoadBalancer Service adds a frontend IP configuration (and a public IP for a public load balancer) and one rule and probe per port.",
		Fix: []string{
			`az network list-usages --location <REGION> -o table   # usage against limits`,
			`# free some: delete unused public IPs and LoadBalancer Services, or share one IP between Services on different ports`,
			`# or raise the limit: Azure portal > Subscriptions > Usage + quotas > Networking`,
		},
	},
	{
		ID:    "rule-conflict",
		Title: "a frontend, rule or probe conflicts with another on the load balancer",
		Match: []lbMatcher{
			{Code: "RulesUseSameBackendPortProtocolAndPool*"},
			{Code: "LoadBalancingRuleMustDisableSNATSinceSameProtocolAndBackendPortUsedByOutboundRule"},
			{Code: "InvalidLoadBalancerRuleConfiguration"},
			{Code: "LoadBalancerRuleNameConflict"},
			{Text: "must not be used with the same backend address pool"},
		},
		Explanation: "Azure rejected the load balancer because two of its rules, or a rule and a frontend or probe, collide: the same frontend IP, protocol and port, or the same backend port and protocol on one backend pool. " +
			"Typical reasons: two Services sharing one IP on the same port, the high-availability-ports annotation (service.beta.kubernetes.io/azure-load-balancer-enable-high-availability-ports) on a Service with several ports, " +
			"or rules added by hand to the cluster's load balancer, which the cloud provider owns.",
		Fix: []string{
			`az network lb rule list -g <NODE-RG> --lb-name kubernetes -o table   # kubernetes-internal for internal Services`,
			`kubectl get services -A -o wide | grep LoadBalancer   # the other Service on the same IP and port`,
			`# remove rules not created by the cloud provider, or move one of the Services to another IP or port`,
		},
	},
	{
		ID:        "throttled",
		Title:     "Azure is throttling the cloud provider's API calls (HTTP 429)",
		Transient: true,
		Match: []lbMatcher{
			{Status: 429},
			{Code: "TooManyRequests"}, {Code: "ResourceRequestsThrottled"},
			{Code: "SubscriptionRequestsThrottled"}, {Code: "TenantRequestsThrottled"},
			{Text: "throttled for operation"}, {Text: "rate limited(read)"}, {Text: "rate limited(write)"},
		},
		Explanation: "Azure Resource Manager or the network resource provider throttled the cloud provider's requests (HTTP 429, 'Retriable: true, RetryAfter: ...'), or the cloud provider's own client-side rate limiter held them back. " +
			"This is transient: the service controller retries with back-off and the IP arrives once the throttling window passes. " +
			"If it lasts, something else is spending the subscription's request budget (many clusters or tools in one subscription, a large cluster reconciling many Services).",
		Fix: []string{
			`kubectl get service -n {namespace} {name} -w   # transient: wait for the next retry`,
			activityLogFix,
			`# if it lasts, find the heavy callers in the subscription's Activity log: https://learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling`,
		},
	},
	{
		ID:        "operation-in-progress",
		Title:     "another operation on the load balancer was in progress (transient)",
		Transient: true,
		Match: []lbMatcher{
			{Code: "AnotherOperationInProgress"}, {Code: "RetryableError"},
			{Code: "RetryableErrorDueToAnotherOperation"}, {Code: "OperationPreempted"},
			{Code: "Canceled"}, {Code: "GatewayError"}, {Code: "InternalServerError"},
			{Code: "PreconditionFailed"}, {Text: "EtagMismatchError"},
			{Text: "does not match etag"},
		},
		Explanation: "Azure serialises writes to one load balancer: while another operation updates it (another Service, a node pool scale or upgrade, someone in the portal), this one was rejected, preempted or raced (etag mismatch), or the network resource provider failed transiently. " +
			"The service controller retries and it normally clears within minutes. " +
			"It does not clear when the load balancer, a NIC or the scale set is stuck in a Failed provisioning state.",
		Fix: []string{
			`kubectl get service -n {namespace} {name} -w   # transient: wait for the next retry`,
			`az network lb show -g <NODE-RG> -n kubernetes --query provisioningState -o tsv   # Failed means stuck, not busy`,
			activityLogFix,
		},
	},
	{
		ID:    "no-ready-nodes",
		Title: "no node is eligible for the load balancer's backend pool",
		Match: []lbMatcher{
			{Text: "There are no available nodes for LoadBalancer"},
		},
		Explanation: "The service controller found no node to put behind the load balancer: it keeps only Ready nodes without the node.kubernetes.io/exclude-from-external-load-balancers label and without the cluster autoscaler's ToBeDeletedByClusterAutoscaler taint.",
		Fix: []string{
			`kubectl get nodes -L node.kubernetes.io/exclude-from-external-load-balancers`,
			`# make nodes Ready, or remove the exclude label from some of them`,
		},
	},
}

// unknownCause is what a failure that matches no cause gets.
var unknownCause = lbCause{
	ID:    "unrecognised",
	Title: "the load balancer ensurer failed",
	Explanation: "The cloud provider's load balancer ensurer reported an error netdoctor does not recognise; the message is in the evidence. " +
		"On Azure, a failed call to the network resource provider is usually visible in the Activity log of the load balancer or public IP in the node resource group.",
	Fix: []string{
		`kubectl describe service -n {namespace} {name}   # the full message`,
		activityLogFix,
		`kubectl logs -n kube-system -l component=cloud-controller-manager --tail=200   # self-managed clusters; on AKS, the control plane's diagnostic logs (category cloud-controller-manager)`,
	},
}

// lbCausesByID holds every classifiable cause, including the unknown one.
var lbCausesByID = func() map[string]lbCause {
	m := make(map[string]lbCause, len(lbCauses)+1)
	for _, c := range lbCauses {
		m[c.ID] = c
	}
	m[unknownCause.ID] = unknownCause
	return m
}()

// azureError is what can be read out of one ensurer error message.
type azureError struct {
	Codes    []string // Azure error codes, in order of appearance, distinct
	Statuses []int    // HTTP status codes other than 0 and -1, distinct
	// Identity parsing of (Linked)AuthorizationFailed.
	ObjectID string
	Action   string
	Scope    string
	// Resources are the distinct Azure resource IDs in the message.
	Resources []string
	// Requested addresses and where the provider looked.
	IP            string
	PIPName       string
	ResourceGroup string
	VNet          string
	Subnet        string
}

var (
	// reStatuses reads HTTP statuses; each runs only when its literal
	// prefix is in the message.
	reStatuses = []struct {
		prefix string
		re     *regexp.Regexp
	}{
		{"HTTPStatusCode: ", regexp.MustCompile(`HTTPStatusCode: (-?\d+)`)},
		{"StatusCode=", regexp.MustCompile(`StatusCode=(-?\d+)`)},
		{"Status=", regexp.MustCompile(`Status=(\d{3})`)},
		{"RESPONSE ", regexp.MustCompile(`RESPONSE (\d{3})`)},
		{"Status Code = '", regexp.MustCompile(`Status Code = '(\d{3})'`)},
	}
	reObjectID   = regexp.MustCompile(`with object id '([^']+)'`)
	reAuthFailed = regexp.MustCompile(`does not have authorization to perform action '([^']+)' over scope '([^']+)'`)
	reLinked     = regexp.MustCompile(`does not have permission to perform action(?:\(s\))? '([^']+)' on the linked scope(?:\(s\))? '([^']+)'`)
	reResourceID = regexp.MustCompile(`/subscriptions/[^\s'"\\,;]+`)
	reUserIP     = regexp.MustCompile(`(?i)user supplied IP Address (\S+) was not found(?: in resource group ([^\s"\\,]+))?`)
	reFindPIP    = regexp.MustCompile(`cannot find public IP with IP address (\S+) in resource group ([^\s"\\,:]+)`)
	rePIPName    = regexp.MustCompile(`azure-pip-name=(\S+) for service`)
	reSubnet     = regexp.MustCompile(`failed to get subnet: ([^\s/"\\]*)/([^\s"\\]*)`)
	reNotInSub   = regexp.MustCompile(`IP address (\S+) does not belong to the range of subnet prefix (\S+)`)
	reRGNotFound = regexp.MustCompile(`Resource group '([^']+)' could not be found`)
)

// parseAzureError reads codes, statuses and the details the fixes need out
// of an ensurer error message. It never fails: what it cannot read stays
// empty.
func parseAzureError(msg string) azureError {
	e := parseCodes(msg, strings.ToLower(msg))
	parseDetails(msg, &e)
	return e
}

// parseCodes reads only the Azure error codes and HTTP statuses: all that
// matching a cause needs. lower is msg in lower case.
func parseCodes(msg, lower string) azureError {
	var e azureError
	e.Codes = errorCodes(msg, lower)
	seenStatus := map[int]bool{}
	for _, st := range reStatuses {
		if !strings.Contains(msg, st.prefix) {
			continue
		}
		for _, m := range st.re.FindAllStringSubmatch(msg, -1) {
			n, err := strconv.Atoi(m[1])
			if err != nil || n <= 0 || seenStatus[n] {
				continue
			}
			seenStatus[n] = true
			e.Statuses = append(e.Statuses, n)
		}
	}
	sort.Ints(e.Statuses)
	return e
}

// parseDetails reads what the explanation and the fix commands need.
func parseDetails(msg string, e *azureError) {
	if m := reObjectID.FindStringSubmatch(msg); m != nil {
		e.ObjectID = m[1]
	}
	if m := reLinked.FindStringSubmatch(msg); m != nil {
		e.Action, e.Scope = m[1], m[2]
	} else if m := reAuthFailed.FindStringSubmatch(msg); m != nil {
		e.Action, e.Scope = m[1], m[2]
	}
	seenRes := map[string]bool{}
	for _, r := range reResourceID.FindAllString(msg, -1) {
		r = strings.TrimRight(r, ".)]}")
		if !seenRes[strings.ToLower(r)] {
			seenRes[strings.ToLower(r)] = true
			e.Resources = append(e.Resources, r)
		}
	}
	if m := reUserIP.FindStringSubmatch(msg); m != nil {
		e.IP, e.ResourceGroup = m[1], m[2]
	}
	if m := reFindPIP.FindStringSubmatch(msg); m != nil {
		e.IP, e.ResourceGroup = m[1], m[2]
	}
	if m := rePIPName.FindStringSubmatch(msg); m != nil {
		e.PIPName = m[1]
	}
	if m := reSubnet.FindStringSubmatch(msg); m != nil {
		e.VNet, e.Subnet = m[1], m[2]
	}
	if m := reNotInSub.FindStringSubmatch(msg); m != nil {
		e.IP = m[1]
		if e.Subnet == "" {
			e.Subnet = strings.TrimRight(m[2], ".\"\\")
		}
	}
	if m := reRGNotFound.FindStringSubmatch(msg); m != nil && e.ResourceGroup == "" {
		e.ResourceGroup = m[1]
	}
}

// lowerTexts holds the lower-case form of every matcher's Text.
var lowerTexts = func() map[string]string {
	m := map[string]string{}
	for _, c := range lbCauses {
		for _, x := range c.Match {
			m[x.Text] = strings.ToLower(x.Text)
		}
	}
	return m
}()

// errorCodes returns the distinct Azure error codes in a message, in order
// of appearance. It reads the shapes the Azure clients print:
//
//	{"error":{"code":"AuthorizationFailed",...}}  (raw body, also \"code\": \"X\" when escaped)
//	Code="LinkedAuthorizationFailed" Message="..."  (autorest)
//	ERROR CODE: AuthorizationFailed                 (azcore ResponseError)
//	(Code: PublicIPAndLBSkuDoNotMatch)              (az CLI)
//
// that is, the word "code" not preceded by a letter, then optional
// backslashes and quote, ':' or '=', optional backslashes and quote, and an
// identifier starting with a letter. It scans once, without backtracking.
func errorCodes(msg, lower string) []string {
	var out []string
	seen := map[string]bool{}
	for off := 0; ; {
		i := strings.Index(lower[off:], "code")
		if i < 0 {
			return out
		}
		i += off
		off = i + 4
		if i > 0 && isLetter(lower[i-1]) {
			continue
		}
		j := skipQuote(msg, i+4)
		for j < len(msg) && msg[j] == ' ' {
			j++
		}
		if j >= len(msg) || (msg[j] != ':' && msg[j] != '=') {
			continue
		}
		j++
		for j < len(msg) && msg[j] == ' ' {
			j++
		}
		j = skipQuote(msg, j)
		k := j
		for k < len(msg) && (isLetter(msg[k]) || (k > j && msg[k] >= '0' && msg[k] <= '9')) {
			k++
		}
		if k-j < 2 {
			continue
		}
		c := msg[j:k]
		if !seen[strings.ToLower(c)] {
			seen[strings.ToLower(c)] = true
			out = append(out, c)
		}
		off = k
	}
}

// skipQuote skips backslashes and one double quote at j.
func skipQuote(s string, j int) int {
	for j < len(s) && s[j] == '\\' {
		j++
	}
	if j < len(s) && s[j] == '"' {
		j++
	}
	return j
}

func isLetter(b byte) bool { return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') }

// matches reports whether the matcher recognises the message; lower is
// the message in lower case.
func (m lbMatcher) matches(lower string, e azureError) bool {
	if m.Code == "" && m.CodeSuffix == "" && m.Text == "" && m.Status == 0 {
		return false
	}
	if m.Code != "" && !hasCode(e.Codes, m.Code) {
		return false
	}
	if m.CodeSuffix != "" && !hasCodeSuffix(e.Codes, m.CodeSuffix) {
		return false
	}
	if m.Text != "" && !strings.Contains(lower, lowerTexts[m.Text]) {
		return false
	}
	if m.Status != 0 && !hasStatus(e.Statuses, m.Status) {
		return false
	}
	return true
}

func hasCode(codes []string, want string) bool {
	prefix, isPrefix := strings.CutSuffix(want, "*")
	for _, c := range codes {
		if isPrefix && strings.HasPrefix(strings.ToLower(c), strings.ToLower(prefix)) {
			return true
		}
		if strings.EqualFold(c, want) {
			return true
		}
	}
	return false
}

func hasCodeSuffix(codes []string, suffix string) bool {
	for _, c := range codes {
		if strings.HasSuffix(strings.ToLower(c), strings.ToLower(suffix)) {
			return true
		}
	}
	return false
}

func hasStatus(statuses []int, want int) bool {
	for _, s := range statuses {
		if s == want {
			return true
		}
	}
	return false
}

// classify returns the first cause of the table that recognises the
// message, or unknownCause, with what was parsed from the message.
func classify(msg string) (lbCause, azureError) {
	lower := strings.ToLower(msg)
	e := parseCodes(msg, lower)
	parseDetails(msg, &e)
	return match(lower, e), e
}

// causeOf is classify without the details: the cause only.
func causeOf(msg string) lbCause {
	lower := strings.ToLower(msg)
	return match(lower, parseCodes(msg, lower))
}

// match returns the first cause recognising the message (lower case).
func match(lower string, e azureError) lbCause {
	for _, c := range lbCauses {
		for _, m := range c.Match {
			if m.matches(lower, e) {
				return c
			}
		}
	}
	return unknownCause
}
