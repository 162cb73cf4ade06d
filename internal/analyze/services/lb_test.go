package services

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdoctor/netdoctor/internal/finding"
	"github.com/netdoctor/netdoctor/internal/snapshot"
	"github.com/netdoctor/netdoctor/internal/snapshot/snapshottest"
)

// TestLoadBalancersGolden compares the analyzer's whole output on every
// testdata/lb/*.yaml snapshot with the golden file beside it. Each YAML file
// says where its event messages come from.
func TestLoadBalancersGolden(t *testing.T) {
	snapshottest.RunGolden(t, "lb", LoadBalancers)
}

// TestLoadBalancers checks the facts that matter on every testdata/lb
// snapshot, so that a golden file rewritten with -update cannot hide a
// wrong cause, severity or fix.
func TestLoadBalancers(t *testing.T) {
	tests := []struct {
		bundle      string
		wantCheck   finding.Status
		wantSev     finding.Severity // "" when no finding is expected
		wantTitle   string           // substring of the title
		wantContain []string         // substrings of evidence, explanation or remediation
	}{
		{"auth-subnet-read", finding.Failed, finding.Critical, "lacks permission on a network resource", []string{
			"d3c30ad5-aa9b-4ae7-b23c-5ada1d7707ba", "Microsoft.Network/virtualNetworks/subnets/read",
			"--scope /subscriptions/a84eafee-1ff3-43f4-b91e-d0ceb975fca6/resourceGroups/tidb-k8s/providers/Microsoft.Network/virtualNetworks/tidb-vpc/subnets/aks-subnet",
			"SyncLoadBalancerFailed x7, first 10m and last 5m18s before the snapshot (2026-11-21T11:54:42Z)", "Azure error code AuthorizationFailed (HTTP 403)", "pending for 12m"}},
		{"linked-auth-subnet-join", finding.Failed, finding.Critical, "lacks permission", []string{
			"Microsoft.Network/virtualNetworks/subnets/join/action",
			"--assignee 3629b252-74ed-4cae-87f1-8840707b4487",
			"/resourceGroups/private-sponsorship/providers/Microsoft.Network/virtualNetworks/private-sponsorship-vnet/subnets/privatek8s-sponsorship-infraci-ctrl-tier",
			"LinkedAuthorizationFailed (HTTP 403)"}},
		{"linked-auth-public-ip-join", finding.Failed, finding.Critical, "lacks permission", []string{
			"Microsoft.Network/publicIPAddresses/join/action", "spec.loadBalancerIP=20.50.60.70",
			"annotation service.beta.kubernetes.io/azure-load-balancer-resource-group=xxxxxx"}},
		{"requested-ip-not-found", finding.Failed, finding.Critical, "requested public IP does not exist", []string{
			"ipAddress=='68.219.211.66'", "resource group dev", "annotation service.beta.kubernetes.io/azure-load-balancer-ipv4=68.219.211.66"}},
		{"requested-ip-old-reason", finding.Failed, finding.Critical, "requested public IP does not exist", []string{
			"CreatingLoadBalancerFailed x8, first 36m", "ipAddress=='1.2.3.4'"}},
		{"internal-subnet-not-found", finding.Failed, finding.Critical, "subnet or private IP is invalid", []string{
			"--vnet-name internal-network", "virtual network (internal-network)", "subnet (kube-machines)"}},
		{"private-ip-not-in-subnet", finding.Failed, finding.Critical, "subnet or private IP is invalid", []string{
			"from azure-cloud-provider", "PrivateIPAddressNotInSubnet", "--ip-address 10.0.4.45"}},
		{"quota-public-ip", finding.Failed, finding.Critical, "quota or load balancer limit", []string{
			"PublicIPCountLimitReached (HTTP 400)", "az network list-usages"}},
		{"throttled-429", finding.Failed, finding.Critical, "throttling", []string{
			"GatewayError (HTTP 429)", "[...]"}},
		{"operation-in-progress", finding.Failed, finding.Critical, "another operation on the load balancer", []string{
			"RetryableError, RetryableErrorDueToAnotherOperation",
			"/subscriptions/b15328d0-e3fe-4d92-b244-f43d59a02957/resourceGroups/shoot-name/providers/Microsoft.Network/loadBalancers/shoot-name"}},
		{"rule-conflict-ha-ports", finding.Failed, finding.Critical, "conflicts with another", []string{
			"RulesUseSameBackendPortProtocolAndPoolAndFrontendIPWithFloatingIPEnabled (HTTP 400)",
			"loadBalancers/kubernetes-internal/backendAddressPools/kubernetes", " [...] "}},
		{"sku-mismatch", finding.Failed, finding.Critical, "SKU does not match", []string{
			"PublicIPAndLBSkuDoNotMatch", "azure-pip-name=nginx-ingress-pip"}},
		{"expired-credentials", finding.Failed, finding.Critical, "credentials are invalid or expired", []string{
			"ListLoadBalancers x30", "az aks update-credentials"}},
		{"unrecognised-error", finding.Failed, finding.Critical, "the load balancer ensurer failed", []string{
			"invalid ip config ID /subscriptions/aa3d3369-e814-4495-899d-d31e8d7d09ce", "kubectl describe service -n default ingress-nginx-elb"}},
		{"in-progress", finding.Passed, finding.Info, "being created", []string{"pending for 40s"}},
		{"no-events", finding.Failed, finding.Critical, "no cloud controller has acted on it", []string{"no events on the Service at all"}},
		{"load-balancer-class", finding.Failed, finding.Warning, "load balancer class", []string{"spec.loadBalancerClass=example.com/internal-vip"}},
		{"events-skipped", finding.Failed, finding.Critical, "cause could not be read", []string{"forbidden by RBAC"}},
		{"healthy", finding.Passed, "", "", nil},
		{"ensured-no-address", finding.Failed, finding.Warning, "reported success but no address", []string{"EnsuredLoadBalancer once, 24m before the snapshot"}},
		{"stalled", finding.Failed, finding.Warning, "neither finished nor failed", []string{"EnsuringLoadBalancer once, 20m before the snapshot"}},
		{"auth-then-throttled", finding.Failed, finding.Critical, "throttling", []string{
			"earlier failures on this Service: the cluster identity lacks permission on a network resource (10 events)",
			"longer than a transient failure usually lasts"}},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.bundle] = true
		t.Run(tt.bundle, func(t *testing.T) {
			s, err := snapshottest.Load(filepath.Join("testdata", "lb", tt.bundle+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			got := LoadBalancers(s)

			if len(got.Checks) != 1 || got.Checks[0].Name != LoadBalancerCheck {
				t.Fatalf("checks = %+v, want one %q check", got.Checks, LoadBalancerCheck)
			}
			if got.Checks[0].Status != tt.wantCheck {
				t.Errorf("check status = %s (%s), want %s", got.Checks[0].Status, got.Checks[0].Reason, tt.wantCheck)
			}
			if tt.wantSev == "" {
				if len(got.Findings) != 0 {
					t.Fatalf("findings = %+v, want none", got.Findings)
				}
			} else {
				if len(got.Findings) != 1 {
					t.Fatalf("got %d findings, want 1", len(got.Findings))
				}
				f := got.Findings[0]
				if f.Code != "LB001" {
					t.Errorf("code = %s, want LB001", f.Code)
				}
				if f.Severity != tt.wantSev {
					t.Errorf("severity = %s, want %s", f.Severity, tt.wantSev)
				}
				if !strings.Contains(f.Title, tt.wantTitle) {
					t.Errorf("title = %q, want it to contain %q", f.Title, tt.wantTitle)
				}
				all := strings.Join(f.Evidence, "\n") + "\n" + f.Explanation + "\n" + strings.Join(f.Remediation, "\n")
				for _, w := range tt.wantContain {
					if !strings.Contains(all, w) {
						t.Errorf("finding does not contain %q:\n%s", w, all)
					}
				}
				if prose := f.Explanation + "\n" + strings.Join(f.Remediation, "\n"); rePlaceholder.MatchString(prose) {
					t.Errorf("unfilled placeholder in:\n%s", prose)
				}
			}

		})
	}
	files, err := filepath.Glob(filepath.Join("testdata", "lb", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if name := strings.TrimSuffix(filepath.Base(f), ".yaml"); !seen[name] {
			t.Errorf("testdata/lb/%s.yaml has no case in this table", name)
		}
	}
}

// TestClassify checks the cause table against real ensurer messages,
// including formats not in the bundles: each names where it comes from.
func TestClassify(t *testing.T) {
	tests := []struct {
		name      string
		msg       string
		wantCause string
		want      azureError // only the non-empty fields are compared
	}{
		{
			// pivotal-cf/docs-pks#1092: autorest format on a list call.
			name:      "autorest AuthorizationFailed on loadBalancers/read",
			msg:       `Error syncing load balancer: failed to ensure load balancer: network.LoadBalancersClient#List: Failure responding to request: StatusCode=403 -- Original Error: autorest/azure: Service returned an error. Status=403 Code="AuthorizationFailed" Message="The client 'redacted' with object id 'dredacted' does not have authorization to perform action 'Microsoft.Network/loadBalancers/read' over scope '/subscriptions/redacted/resourceGroups/redacted/providers/Microsoft.Network' or the scope is invalid. If access was recently granted, please refresh your credentials."`,
			wantCause: "identity-permission",
			want: azureError{Codes: []string{"AuthorizationFailed"}, Statuses: []int{403}, ObjectID: "dredacted",
				Action: "Microsoft.Network/loadBalancers/read", Scope: "/subscriptions/redacted/resourceGroups/redacted/providers/Microsoft.Network"},
		},
		{
			// kubernetes-sigs/cloud-provider-azure#7500 (cut in the issue where shown): publicIPPrefixes join.
			name:      "LinkedAuthorizationFailed on a public IP prefix",
			msg:       `Error syncing load balancer: failed to ensure load balancer: Retriable: false, RetryAfter: 0s, HTTPStatusCode: 403, RawError: {"error":{"code":"LinkedAuthorizationFailed","message":"The client '<principal-id>' with object id '<principal-id>' has permission to perform action 'Microsoft.Network/publicIPAddresses/write' on scope '/subscriptions/<subscription-id>/resourceGroups/<resource-group>/providers/Microsoft.Network/publicIPAddresses/<public-ip-created-off-of-prefix>'; however, it does not have permission to perform action 'Microsoft.Network/publicIPPrefixes/join/action' on the linked scope(s) '/subscriptions/<subscription-id>/resourceGroups/<resource-group>/providers/Microsoft.Network/publicIPPrefixes/<resource-name>' or the linked scope(s) are invalid."}}`,
			wantCause: "identity-permission",
			want: azureError{Codes: []string{"LinkedAuthorizationFailed"}, ObjectID: "<principal-id>",
				Action: "Microsoft.Network/publicIPPrefixes/join/action",
				Scope:  "/subscriptions/<subscription-id>/resourceGroups/<resource-group>/providers/Microsoft.Network/publicIPPrefixes/<resource-name>"},
		},
		{
			// azcore.ResponseError as printed by the track-2 SDK clients of
			// newer cloud-provider-azure releases (azcore errors.go layout).
			name: "track-2 SDK ResponseError",
			msg: "Error syncing load balancer: failed to ensure load balancer: GET https://management.azure.com/subscriptions/0000/resourceGroups/vnet-rg/providers/Microsoft.Network/virtualNetworks/vnet/subnets/ilb\n" +
				"--------------------------------------------------------------------------------\nRESPONSE 403: 403 Forbidden\nERROR CODE: AuthorizationFailed\n" +
				"--------------------------------------------------------------------------------\n{\n  \"error\": {\n    \"code\": \"AuthorizationFailed\",\n    \"message\": \"The client 'aaaa' with object id 'bbbb' does not have authorization to perform action 'Microsoft.Network/virtualNetworks/subnets/read' over scope '/subscriptions/0000/resourceGroups/vnet-rg/providers/Microsoft.Network/virtualNetworks/vnet/subnets/ilb' or the scope is invalid. If access was recently granted, please refresh your credentials.\"\n  }\n}\n--------------------------------------------------------------------------------\n",
			wantCause: "identity-permission",
			want:      azureError{Codes: []string{"AuthorizationFailed"}, Statuses: []int{403}, ObjectID: "bbbb", Action: "Microsoft.Network/virtualNetworks/subnets/read"},
		},
		{
			// Azure/AKS#339: expired or reset service principal.
			name:      "adal refresh 401",
			msg:       `Error creating load balancer (will retry): Error getting LB for service default/kubernetes: azure.BearerAuthorizer#WithAuthorization: Failed to refresh the Token for request to https://management.azure.com/subscriptions/*******************/resourceGroups/MC_akscluster-we_akscluster-we_westeurope/providers/Microsoft.Network/loadBalancers/kubernetes?api-version=2017-03-01: StatusCode=0 -- Original Error: adal: Refresh request failed. Status Code = '401'`,
			wantCause: "identity-credentials",
			want:      azureError{Statuses: []int{401}},
		},
		{
			// Azure/aad-pod-identity#1075: the expired-secret variant.
			name:      "AADSTS7000222 expired secret",
			msg:       `azure.BearerAuthorizer#WithAuthorization: Failed to refresh the Token for request to https://management.azure.com/subscriptions/xxxxxxxxxxx/resourceGroups/xxxxxxxxxxx/providers/Microsoft.Compute/virtualMachineScaleSets/xxxxxxxxxxxx-vmss?api-version=2019-07-01: StatusCode=401 -- Original Error: adal: Refresh request failed. Status Code = '401'. Response body: {"error":"invalid_client","error_description":"AADSTS7000222: The provided client secret keys are expired."}`,
			wantCause: "identity-credentials",
		},
		{
			// Azure/AKS#253 comment: older wording without the resource group.
			name:      "user supplied IP not found, no resource group",
			msg:       `Error creating load balancer (will retry): Failed to ensure load balancer for service default/whenyoumove-widget: user supplied IP Address 52.178.99.212 was not found`,
			wantCause: "requested-ip",
			want:      azureError{IP: "52.178.99.212"},
		},
		{
			// cloud-provider-azure pkg/provider/azure_loadbalancer.go: determinePublicIPName.
			name:      "user supplied IP not found in resource group",
			msg:       `Error syncing load balancer: failed to ensure load balancer: user supplied IP Address 20.1.2.3 was not found in resource group MC_rg_aks_westeurope`,
			wantCause: "requested-ip",
			want:      azureError{IP: "20.1.2.3", ResourceGroup: "MC_rg_aks_westeurope"},
		},
		{
			// cloud-provider-azure ensurePublicIPExists: azure-pip-name naming a missing IP.
			name:      "azure-pip-name missing",
			msg:       `Error syncing load balancer: failed to ensure load balancer: PublicIP from annotation azure-pip-name=web-pip for service default/web doesn't exist`,
			wantCause: "requested-ip",
			want:      azureError{PIPName: "web-pip"},
		},
		{
			name:      "resource group of the annotation does not exist",
			msg:       `Error syncing load balancer: failed to ensure load balancer: Retriable: false, RetryAfter: 0s, HTTPStatusCode: 404, RawError: {"error":{"code":"ResourceGroupNotFound","message":"Resource group 'ip-rg' could not be found."}}`,
			wantCause: "requested-ip",
			want:      azureError{Codes: []string{"ResourceGroupNotFound"}, Statuses: []int{404}, ResourceGroup: "ip-rg"},
		},
		{
			// openshift/openshift-azure#1087: subnet lookup 404 before the provider's own error.
			name:      "subnet 404",
			msg:       `network.SubnetsClient#Get: Failure responding to request: StatusCode=404 -- Original Error: autorest/azure: Service returned an error. Status=404 Code=\"ResourceNotFound\" Message=\"The Resource 'Microsoft.Network/virtualNetworks/subnets' under resource group '5786a402-a88d-4cac-b8f9-ae2a4226a531' was not found.\"`,
			wantCause: "internal-subnet",
			want:      azureError{Codes: []string{"ResourceNotFound"}, Statuses: []int{404}},
		},
		{
			// CodeValet/codevalet#47.
			name:      "frontend IP configuration limit",
			msg:       `network.LoadBalancersClient#CreateOrUpdate: Failure responding to request: StatusCode=400 -- Original Error: autorest/azure: Service returned an error. Status=400 Code="LoadBalancerFrontendIPConfigurationCountLimitReached" Message="Basic sku load balancer /subscriptions/be53081d-a3a2-499c-b355-8f5c3d4126e5/resourceGroups/codevalet-prod-controlplane/providers/Microsoft.Network/loadBalancers/codevalet-prod-k8s-master cannot have more than 10 FrontendIPConfigurations." Details=[].`,
			wantCause: "quota",
			want: azureError{Codes: []string{"LoadBalancerFrontendIPConfigurationCountLimitReached"}, Statuses: []int{400},
				Resources: []string{"/subscriptions/be53081d-a3a2-499c-b355-8f5c3d4126e5/resourceGroups/codevalet-prod-controlplane/providers/Microsoft.Network/loadBalancers/codevalet-prod-k8s-master"}},
		},
		{
			// coreos/tectonic-installer#1454: the static variant of the public IP limit.
			name:      "static public IP limit",
			msg:       `network.PublicIPAddressesClient#CreateOrUpdate: Failure responding to request: StatusCode=400 -- Original Error: autorest/azure: Service returned an error. Status=400 Code="StaticPublicIPCountLimitReached" Message="Cannot create more than 20 public IP addresses with static allocation method for this subscription in this region." Details=[]`,
			wantCause: "quota",
		},
		{
			// cloud-provider-azure pkg/retry/azure_error.go classifyErrorCode: OperationNotAllowed with "Quota increase".
			name:      "OperationNotAllowed quota",
			msg:       `Retriable: false, RetryAfter: 0s, HTTPStatusCode: 409, RawError: {"error":{"code":"OperationNotAllowed","message":"Operation could not be completed as it results in exceeding approved standardDSv3Family Cores quota. Please read more about quota increase at https://aka.ms/ProdportalCRP/?#create/Microsoft.Support/Parameters/"}}`,
			wantCause: "quota",
		},
		{
			// kubernetes/kubernetes#64759: the in-tree provider's client-side rate limiter.
			name:      "ARM rate limited",
			msg:       `Error creating load balancer (will retry): failed to ensure load balancer for service default/test-lb-svc: azure - ARM rate limited(read) for operation:LBList`,
			wantCause: "throttled",
		},
		{
			// openshift/installer#1802.
			name:      "cloud provider rate limited on update",
			msg:       `Error updating load balancer with new hosts map[dmace-nwj6k-worker-jdb6c:{}]: azure - cloud provider rate limited(read) for operation:LBList`,
			wantCause: "throttled",
		},
		{
			// hashicorp/terraform-provider-azurerm#25417: NRP 429 with RetryableError in the track-2 format.
			name:      "429 RetryableError",
			msg:       "unexpected status 429 (429 Too Many Requests) with error: RetryableError: A retryable error occurred.\nRESPONSE 429: 429 Too Many Requests\nERROR CODE: RetryableError",
			wantCause: "throttled",
			want:      azureError{Codes: []string{"RetryableError"}, Statuses: []int{429}},
		},
		{
			// cloud-provider-azure pkg/retry/etagmismatch_error.go.
			name:      "etag mismatch",
			msg:       `Error syncing load balancer: failed to ensure load balancer: Retriable: true, RetryAfter: 0s, HTTPStatusCode: 412, RawError: EtagMismatchError: etag "1" does not match etag "2" of resource`,
			wantCause: "operation-in-progress",
		},
		{
			name:      "AnotherOperationInProgress",
			msg:       `Retriable: false, RetryAfter: 0s, HTTPStatusCode: 409, RawError: {"error":{"code":"AnotherOperationInProgress","message":"Another operation on this or dependent resource is in progress. To retrieve status of the operation use uri: https://management.azure.com/subscriptions/0000/providers/Microsoft.Network/locations/westeurope/operations/1111?api-version=2022-07-01.","details":[]}}`,
			wantCause: "operation-in-progress",
		},
		{
			// Azure/azure-quickstart-templates#2014 (ARM deployment, same NRP check).
			name:      "rules use the same backend port",
			msg:       `RulesUseSameBackendPortProtocolAndPool : Load balancing rules /subscriptions/<subscription_id>/resourceGroups/<resource_group>/providers/Microsoft.Network/loadBalancers/loadBalancer/loadBalancingRules/loadBalancerAPIRule and /subscriptions/<subscription_id>/resourceGroups/<resource_group>/providers/Microsoft.Network/loadBalancers/loadBalancer/loadBalancingRules/loadBalancerBuildRule use the same protocol and backend port (Tcp 0) and must not be used with the same backend address pool`,
			wantCause: "rule-conflict",
		},
		{
			// k8s.io/cloud-provider controllers/service: ensureLoadBalancer.
			name:      "no available nodes",
			msg:       `There are no available nodes for LoadBalancer`,
			wantCause: "no-ready-nodes",
		},
		{
			// Azure/aks-engine#4236.
			name:      "unrecognised",
			msg:       `Error syncing load balancer: failed to ensure load balancer: invalid ip config ID /subscriptions/aa3d3369-e814-4495-899d-d31e8d7d09ce/resourceGroups/kubernetes-westus2-80684/providers/Microsoft.Network/networkInterfaces/1598k8s01nic-1/ipConfigurations/ipconfig1`,
			wantCause: "unrecognised",
			want: azureError{Resources: []string{
				"/subscriptions/aa3d3369-e814-4495-899d-d31e8d7d09ce/resourceGroups/kubernetes-westus2-80684/providers/Microsoft.Network/networkInterfaces/1598k8s01nic-1/ipConfigurations/ipconfig1"}},
		},
		{
			name:      "empty",
			msg:       "",
			wantCause: "unrecognised",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, got := classify(tt.msg)
			if c.ID != tt.wantCause {
				t.Errorf("cause = %s, want %s (codes %v, statuses %v)", c.ID, tt.wantCause, got.Codes, got.Statuses)
			}
			w := tt.want
			if w.Codes != nil && strings.Join(got.Codes, ",") != strings.Join(w.Codes, ",") {
				t.Errorf("codes = %v, want %v", got.Codes, w.Codes)
			}
			if w.Statuses != nil && !equalInts(got.Statuses, w.Statuses) {
				t.Errorf("statuses = %v, want %v", got.Statuses, w.Statuses)
			}
			if w.Resources != nil && strings.Join(got.Resources, ",") != strings.Join(w.Resources, ",") {
				t.Errorf("resources = %v, want %v", got.Resources, w.Resources)
			}
			for _, f := range []struct{ name, got, want string }{
				{"object id", got.ObjectID, w.ObjectID}, {"action", got.Action, w.Action}, {"scope", got.Scope, w.Scope},
				{"ip", got.IP, w.IP}, {"pip name", got.PIPName, w.PIPName}, {"resource group", got.ResourceGroup, w.ResourceGroup},
				{"vnet", got.VNet, w.VNet}, {"subnet", got.Subnet, w.Subnet},
			} {
				if f.want != "" && f.got != f.want {
					t.Errorf("%s = %q, want %q", f.name, f.got, f.want)
				}
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestCauseTable checks the table is well formed and documented.
func TestCauseTable(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "loadbalancers.md"))
	if err != nil {
		t.Fatalf("reading the cause documentation: %v", err)
	}
	ids := map[string]bool{}
	all := append([]lbCause{unknownCause, eventsUnreadableCause, otherClassCause, noControllerCause, inProgressCause, stalledCause, ensuredNoStatusCause}, lbCauses...)
	for _, c := range all {
		t.Run(c.ID, func(t *testing.T) {
			if ids[c.ID] {
				t.Errorf("duplicate cause ID %q", c.ID)
			}
			ids[c.ID] = true
			if c.Title == "" || c.Explanation == "" || len(c.Fix) == 0 {
				t.Errorf("cause %q lacks a title, an explanation or a fix", c.ID)
			}
			for i, m := range c.Match {
				if m == (lbMatcher{}) {
					t.Errorf("matcher %d of %q matches nothing", i, c.ID)
				}
			}
			if !strings.Contains(string(doc), "`"+c.ID+"`") {
				t.Errorf("docs/loadbalancers.md does not describe cause `%s`", c.ID)
			}
			for _, text := range append([]string{c.Explanation}, c.Fix...) {
				for _, m := range rePlaceholder.FindAllStringSubmatch(text, -1) {
					if _, ok := placeholderValues(&corev1.Service{}, azureError{}, 0, false)[m[1]]; !ok {
						t.Errorf("cause %q uses unknown placeholder {%s}", c.ID, m[1])
					}
				}
			}
		})
	}
}

func TestTrimMessage(t *testing.T) {
	long := "Error syncing load balancer: failed to ensure load balancer: " +
		strings.Repeat("Retriable: false, RetryAfter: 0s, HTTPStatusCode: 403, RawError: ", 3) + strings.Repeat("x", 2000)
	tests := []struct {
		name, in string
		limit    int
		want     func(string) bool
	}{
		{"short kept", "Ensuring load balancer", 700, func(s string) bool { return s == "Ensuring load balancer" }},
		{"whitespace collapsed", "a\r\n   b", 700, func(s string) bool { return s == "a b" }},
		{"long cut with marker", long, 700, func(s string) bool {
			return len([]rune(s)) <= 700+len(" [...] ") && strings.Contains(s, " [...] ") &&
				strings.Count(s, "Retriable:") == 1 && strings.HasPrefix(s, "Error syncing load balancer")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := trimMessage(tt.in, tt.limit); !tt.want(got) {
				t.Errorf("trimMessage(%.60q...) = %q", tt.in, got)
			}
		})
	}
}

func TestHumanDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{-time.Second, "0s"}, {40 * time.Second, "40s"}, {5*time.Minute + 18*time.Second, "5m18s"},
		{12 * time.Minute, "12m"}, {2*time.Hour + 5*time.Minute, "2h5m"}, {3 * time.Hour, "3h"},
		{50 * time.Hour, "2d2h"},
	}
	for _, tt := range tests {
		if got := humanDuration(tt.in); got != tt.want {
			t.Errorf("humanDuration(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// BenchmarkLoadBalancers runs the analyzer on a cluster the size of the
// speed target (20,000 Services, 50,000 events) where 2,000 Services are of
// type LoadBalancer and 1,000 of them are failing with real Azure messages,
// all 50,000 events being their failures: the same few messages repeated,
// or every message distinct (the worst case).
func BenchmarkLoadBalancers(b *testing.B) {
	for _, distinct := range []bool{false, true} {
		name := "repeated-messages"
		if distinct {
			name = "distinct-messages"
		}
		b.Run(name, func(b *testing.B) {
			s := bigLBSnapshot(b, distinct)
			s.Index()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r := LoadBalancers(s)
				if len(r.Findings) != 1000 {
					b.Fatalf("got %d findings, want 1000", len(r.Findings))
				}
			}
		})
	}
}

func bigLBSnapshot(b *testing.B, distinct bool) *snapshot.Snapshot {
	b.Helper()
	var msgs []string
	files, _ := filepath.Glob(filepath.Join("testdata", "lb", "*.yaml"))
	for _, f := range files {
		s, err := snapshottest.Load(f)
		if err != nil {
			b.Fatal(err)
		}
		for _, ev := range s.Events {
			if ev.Type == corev1.EventTypeWarning {
				msgs = append(msgs, ev.Message)
			}
		}
	}
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	s := &snapshot.Snapshot{Manifest: snapshot.Manifest{Schema: snapshot.BundleSchema, CollectedAt: now}}
	created := metav1.NewTime(now.Add(-time.Hour))
	for i := 0; i < 20000; i++ {
		svc := corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: fmt.Sprintf("ns-%d", i%500), Name: fmt.Sprintf("svc-%d", i), CreationTimestamp: created}}
		svc.Spec.Type = corev1.ServiceTypeClusterIP
		if i%10 == 0 {
			svc.Spec.Type = corev1.ServiceTypeLoadBalancer
			if i%20 == 0 {
				svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "20.0.0.1"}}
			}
		}
		s.Services = append(s.Services, svc)
	}
	for i := 0; len(s.Events) < 50000; i++ {
		svc := &s.Services[(i*10+10)%20000]
		if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || len(svc.Status.LoadBalancer.Ingress) > 0 {
			svc = &s.Services[(i%1000)*20+10]
		}
		ev := corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Namespace: svc.Namespace, Name: fmt.Sprintf("ev-%d", i)},
			InvolvedObject: corev1.ObjectReference{Kind: "Service", Namespace: svc.Namespace, Name: svc.Name},
			Type:           corev1.EventTypeWarning, Reason: "SyncLoadBalancerFailed",
			Message: msgs[i%len(msgs)],
			Count:   3, FirstTimestamp: created, LastTimestamp: metav1.NewTime(now.Add(-time.Duration(i%3600) * time.Second)),
		}
		if distinct {
			ev.Message = fmt.Sprintf("%s (%s/%s #%d)", ev.Message, svc.Namespace, svc.Name, i)
		}
		s.Events = append(s.Events, ev)
	}
	return s
}

// TestEventLine checks both event shapes: core/v1 (count, first and last
// timestamps) and events.k8s.io/v1 seen through core/v1 (eventTime and a
// series).
func TestEventLine(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	at := func(ago time.Duration) metav1.Time { return metav1.NewTime(now.Add(-ago)) }
	tests := []struct {
		name string
		ev   corev1.Event
		want string
	}{
		{"core v1, repeated", corev1.Event{Type: "Warning", Reason: "SyncLoadBalancerFailed", Message: "m", Count: 3,
			FirstTimestamp: at(10 * time.Minute), LastTimestamp: at(time.Minute), Source: corev1.EventSource{Component: "service-controller"}},
			"Warning SyncLoadBalancerFailed x3, first 10m and last 1m before the snapshot (2026-11-21T11:59:00Z), from service-controller: m"},
		{"core v1, once", corev1.Event{Type: "Normal", Reason: "EnsuringLoadBalancer", Message: "Ensuring load balancer", Count: 1,
			FirstTimestamp: at(30 * time.Second), LastTimestamp: at(30 * time.Second), Source: corev1.EventSource{Component: "service-controller"}},
			"Normal EnsuringLoadBalancer once, 30s before the snapshot (2026-11-21T11:59:30Z), from service-controller: Ensuring load balancer"},
		{"events v1 series", corev1.Event{Type: "Warning", Reason: "SyncLoadBalancerFailed", Message: "m",
			EventTime: metav1.NewMicroTime(now.Add(-20 * time.Minute)), ReportingController: "cloud-controller-manager",
			Series: &corev1.EventSeries{Count: 5, LastObservedTime: metav1.NewMicroTime(now.Add(-2 * time.Minute))}},
			"Warning SyncLoadBalancerFailed x5, first 20m and last 2m before the snapshot (2026-11-21T11:58:00Z), from cloud-controller-manager: m"},
		{"no time", corev1.Event{Type: "Warning", Reason: "X", Message: "m"},
			"Warning X at an unknown time, from unknown source: m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := eventLine(&tt.ev, now); got != tt.want {
				t.Errorf("eventLine() = %q, want %q", got, tt.want)
			}
		})
	}
}
