package azure

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"
	csfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/monitor/armmonitor"
	monfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/monitor/armmonitor/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v7"
	netfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v7/fake"
)

// sdkModel decodes a REST example into the SDK's own model, as the SDK does
// with a real response.
func sdkModel[T any](t *testing.T, file string) T {
	t.Helper()
	var v T
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return v
}

const (
	subnetID = "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks/test-vnet/subnets/subnet1"
	nsgID    = "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/testnsg"
	rtID     = "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/routeTables/testrt"
	natID    = "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/natGateways/test-natGateway"
	nodeRG   = "MC_rg1_aks1_westus"
)

// fakeAzure wires the SDK's fake servers with the REST examples: a cluster
// whose pool sits in subnet1 of the NatGatewayGet example, that subnet's
// NSG, route table and NAT gateway, and the load balancer with outbound
// rules in the node resource group.
func fakeAzure(t *testing.T, clusterErr, lbListErr bool) (*Live, *[]string) {
	t.Helper()
	var calls []string
	record := func(s string) { calls = append(calls, s) }

	mc := armcontainerservice.ManagedCluster{
		ID:       to.Ptr("/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.ContainerService/managedClusters/aks1"),
		Name:     to.Ptr("aks1"),
		Type:     to.Ptr("Microsoft.ContainerService/ManagedClusters"),
		Location: to.Ptr("westus"),
		Properties: &armcontainerservice.ManagedClusterProperties{
			NodeResourceGroup: to.Ptr(nodeRG),
			AgentPoolProfiles: []*armcontainerservice.ManagedClusterAgentPoolProfile{{
				Name: to.Ptr("nodepool1"), Count: to.Ptr[int32](3), VnetSubnetID: to.Ptr(subnetID),
				UpgradeSettings: &armcontainerservice.AgentPoolUpgradeSettings{MaxSurge: to.Ptr("33%")},
			}},
			NetworkProfile: &armcontainerservice.NetworkProfile{
				NetworkPlugin: to.Ptr(armcontainerservice.NetworkPluginAzure),
				OutboundType:  to.Ptr(armcontainerservice.OutboundTypeUserAssignedNATGateway),
			},
		},
	}
	csSrv := csfake.ServerFactory{ManagedClustersServer: csfake.ManagedClustersServer{
		NewListPager: func(*armcontainerservice.ManagedClustersClientListOptions) (resp azfake.PagerResponder[armcontainerservice.ManagedClustersClientListResponse]) {
			record("list clusters")
			if clusterErr {
				resp.AddResponseError(http.StatusForbidden, "AuthorizationFailed")
				return
			}
			other := armcontainerservice.ManagedCluster{Name: to.Ptr("other"), Properties: &armcontainerservice.ManagedClusterProperties{NodeResourceGroup: to.Ptr("MC_x_other_westus")}}
			resp.AddPage(http.StatusOK, armcontainerservice.ManagedClustersClientListResponse{ManagedClusterListResult: armcontainerservice.ManagedClusterListResult{Value: []*armcontainerservice.ManagedCluster{&other}}}, nil)
			resp.AddPage(http.StatusOK, armcontainerservice.ManagedClustersClientListResponse{ManagedClusterListResult: armcontainerservice.ManagedClusterListResult{Value: []*armcontainerservice.ManagedCluster{&mc}}}, nil)
			return
		},
		Get: func(_ context.Context, rg, name string, _ *armcontainerservice.ManagedClustersClientGetOptions) (resp azfake.Responder[armcontainerservice.ManagedClustersClientGetResponse], errResp azfake.ErrorResponder) {
			record("get cluster " + rg + "/" + name)
			if clusterErr {
				errResp.SetResponseError(http.StatusForbidden, "AuthorizationFailed")
				return
			}
			resp.SetResponse(http.StatusOK, armcontainerservice.ManagedClustersClientGetResponse{ManagedCluster: mc}, nil)
			return
		},
	}}

	nsg := sdkModel[armnetwork.SecurityGroup](t, "rest/NetworkSecurityGroupGet.json")
	rt := sdkModel[armnetwork.RouteTable](t, "rest/RouteTableGet.json")
	nat := sdkModel[armnetwork.NatGateway](t, "rest/NatGatewayGet.json")
	lb := sdkModel[armnetwork.LoadBalancer](t, "rest/LoadBalancerCreateWithOutboundRules.json")
	subnet := armnetwork.Subnet{
		ID: to.Ptr(subnetID), Name: to.Ptr("subnet1"), Type: to.Ptr("Microsoft.Network/virtualNetworks/subnets"),
		Properties: &armnetwork.SubnetPropertiesFormat{
			AddressPrefix:        to.Ptr("10.0.0.0/24"),
			NetworkSecurityGroup: &armnetwork.SecurityGroup{ID: to.Ptr(nsgID)},
			RouteTable:           &armnetwork.RouteTable{ID: to.Ptr(rtID)},
			NatGateway:           &armnetwork.SubResource{ID: to.Ptr(natID)},
		},
	}
	aksNSG := armnetwork.SecurityGroup{ID: to.Ptr("/subscriptions/subid/resourceGroups/" + nodeRG + "/providers/Microsoft.Network/networkSecurityGroups/aks-agentpool-nsg"), Name: to.Ptr("aks-agentpool-nsg"), Type: to.Ptr("Microsoft.Network/networkSecurityGroups")}
	vnet := armnetwork.VirtualNetwork{
		ID: to.Ptr("/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks/test-vnet"), Name: to.Ptr("test-vnet"),
		Type: to.Ptr("Microsoft.Network/virtualNetworks"),
		Properties: &armnetwork.VirtualNetworkPropertiesFormat{
			AddressSpace: &armnetwork.AddressSpace{AddressPrefixes: []*string{to.Ptr("10.0.0.0/16")}},
			Subnets:      []*armnetwork.Subnet{&subnet},
		},
	}
	netSrv := netfake.ServerFactory{
		VirtualNetworksServer: netfake.VirtualNetworksServer{Get: func(_ context.Context, rg, name string, _ *armnetwork.VirtualNetworksClientGetOptions) (resp azfake.Responder[armnetwork.VirtualNetworksClientGetResponse], errResp azfake.ErrorResponder) {
			record("get vnet " + rg + "/" + name)
			resp.SetResponse(http.StatusOK, armnetwork.VirtualNetworksClientGetResponse{VirtualNetwork: vnet}, nil)
			return
		}},
		SubnetsServer: netfake.SubnetsServer{Get: func(_ context.Context, rg, vnet, name string, _ *armnetwork.SubnetsClientGetOptions) (resp azfake.Responder[armnetwork.SubnetsClientGetResponse], errResp azfake.ErrorResponder) {
			record("get subnet " + rg + "/" + vnet + "/" + name)
			resp.SetResponse(http.StatusOK, armnetwork.SubnetsClientGetResponse{Subnet: subnet}, nil)
			return
		}},
		SecurityGroupsServer: netfake.SecurityGroupsServer{
			Get: func(_ context.Context, rg, name string, _ *armnetwork.SecurityGroupsClientGetOptions) (resp azfake.Responder[armnetwork.SecurityGroupsClientGetResponse], errResp azfake.ErrorResponder) {
				record("get nsg " + rg + "/" + name)
				resp.SetResponse(http.StatusOK, armnetwork.SecurityGroupsClientGetResponse{SecurityGroup: nsg}, nil)
				return
			},
			NewListPager: func(rg string, _ *armnetwork.SecurityGroupsClientListOptions) (resp azfake.PagerResponder[armnetwork.SecurityGroupsClientListResponse]) {
				record("list nsgs " + rg)
				resp.AddPage(http.StatusOK, armnetwork.SecurityGroupsClientListResponse{SecurityGroupListResult: armnetwork.SecurityGroupListResult{Value: []*armnetwork.SecurityGroup{&aksNSG}}}, nil)
				return
			},
		},
		RouteTablesServer: netfake.RouteTablesServer{
			Get: func(_ context.Context, rg, name string, _ *armnetwork.RouteTablesClientGetOptions) (resp azfake.Responder[armnetwork.RouteTablesClientGetResponse], errResp azfake.ErrorResponder) {
				record("get route table " + rg + "/" + name)
				resp.SetResponse(http.StatusOK, armnetwork.RouteTablesClientGetResponse{RouteTable: rt}, nil)
				return
			},
			NewListPager: func(rg string, _ *armnetwork.RouteTablesClientListOptions) (resp azfake.PagerResponder[armnetwork.RouteTablesClientListResponse]) {
				record("list route tables " + rg)
				resp.AddPage(http.StatusOK, armnetwork.RouteTablesClientListResponse{}, nil)
				return
			},
		},
		NatGatewaysServer: netfake.NatGatewaysServer{
			Get: func(_ context.Context, rg, name string, _ *armnetwork.NatGatewaysClientGetOptions) (resp azfake.Responder[armnetwork.NatGatewaysClientGetResponse], errResp azfake.ErrorResponder) {
				record("get nat gateway " + rg + "/" + name)
				resp.SetResponse(http.StatusOK, armnetwork.NatGatewaysClientGetResponse{NatGateway: nat}, nil)
				return
			},
			NewListPager: func(rg string, _ *armnetwork.NatGatewaysClientListOptions) (resp azfake.PagerResponder[armnetwork.NatGatewaysClientListResponse]) {
				record("list nat gateways " + rg)
				// The same NAT gateway again: collected once.
				resp.AddPage(http.StatusOK, armnetwork.NatGatewaysClientListResponse{NatGatewayListResult: armnetwork.NatGatewayListResult{Value: []*armnetwork.NatGateway{&nat}}}, nil)
				return
			},
		},
		LoadBalancersServer: netfake.LoadBalancersServer{NewListPager: func(rg string, _ *armnetwork.LoadBalancersClientListOptions) (resp azfake.PagerResponder[armnetwork.LoadBalancersClientListResponse]) {
			record("list load balancers " + rg)
			if lbListErr {
				resp.AddResponseError(http.StatusTooManyRequests, "TooManyRequests")
				return
			}
			resp.AddPage(http.StatusOK, armnetwork.LoadBalancersClientListResponse{LoadBalancerListResult: armnetwork.LoadBalancerListResult{Value: []*armnetwork.LoadBalancer{&lb}}}, nil)
			return
		}},
	}
	var metricsResp armmonitor.Response
	b, err := os.ReadFile(filepath.Join("testdata", "az", "metrics-snat.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &metricsResp); err != nil {
		t.Fatal(err)
	}
	monSrv := monfake.ServerFactory{MetricsServer: monfake.MetricsServer{List: func(_ context.Context, uri string, o *armmonitor.MetricsClientListOptions) (resp azfake.Responder[armmonitor.MetricsClientListResponse], errResp azfake.ErrorResponder) {
		record("metrics " + *o.Metricnames + " filter " + *o.Filter + " timespan " + *o.Timespan + " of " + uri)
		resp.SetResponse(http.StatusOK, armmonitor.MetricsClientListResponse{Response: metricsResp}, nil)
		return
	}}}
	opts := func(tr interface {
		Do(*http.Request) (*http.Response, error)
	}) *arm.ClientOptions {
		return &arm.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: tr}}
	}
	l, err := NewLive("subid", &azfake.TokenCredential{}, ClientOptions{
		ContainerService: opts(csfake.NewServerFactoryTransport(&csSrv)),
		Network:          opts(netfake.NewServerFactoryTransport(&netSrv)),
		Monitor:          opts(monfake.NewServerFactoryTransport(&monSrv)),
	})
	if err != nil {
		t.Fatal(err)
	}
	l.Now = func() time.Time { return time.Date(2026, 11, 21, 23, 0, 0, 0, time.UTC) }
	return l, &calls
}

func TestLiveCollect(t *testing.T) {
	l, calls := fakeAzure(t, false, false)
	files, skips, err := l.Collect(context.Background(), Target{Subscription: "subid", NodeResourceGroup: strings.ToLower(nodeRG)})
	if err != nil {
		t.Fatal(err)
	}
	if len(skips) != 0 {
		t.Errorf("skips: got %v, want none", skips)
	}
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	want := []string{"azure/aks.json", "azure/lb-lb.json", "azure/metrics-snat-connections-lb.json", "azure/metrics-snat-ports-lb.json",
		"azure/natgw-test-natGateway.json", "azure/nsg-aks-agentpool-nsg.json", "azure/nsg-testnsg.json", "azure/route-table-testrt.json", "azure/subnet-subnet1.json", "azure/vnet-test-vnet.json"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("files:\ngot  %v\nwant %v", names, want)
	}
	wantCalls := []string{"list clusters", "get subnet rg1/test-vnet/subnet1", "get vnet rg1/test-vnet", "get nsg rg1/testnsg", "get route table rg1/testrt", "get nat gateway rg1/test-natGateway",
		"list load balancers " + nodeRG, "list nsgs " + nodeRG, "list route tables " + nodeRG, "list nat gateways " + nodeRG,
		"metrics AllocatedSnatPorts,UsedSnatPorts filter BackendIPAddress eq '*' timespan 2026-11-21T22:00:00Z/2026-11-21T23:00:00Z of subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/loadBalancers/lb",
		"metrics SnatConnectionCount filter BackendIPAddress eq '*' and ConnectionState eq 'failed' timespan 2026-11-21T22:00:00Z/2026-11-21T23:00:00Z of subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/loadBalancers/lb"}
	if got := strings.Join(*calls, "\n"); got != strings.Join(wantCalls, "\n") {
		t.Errorf("calls:\ngot\n%s\nwant\n%s", got, strings.Join(wantCalls, "\n"))
	}

	// What the SDK wrote reads back as the same resources.
	set, errs := Load(files)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	c := set.Cluster()
	if c == nil || c.NetworkProfile.OutboundType != OutboundUserAssignedNATGateway || c.NodeResourceGroup != nodeRG {
		t.Fatalf("cluster: got %+v", c)
	}
	if n, s, err := c.ValidationNodes(); n != 3 || s != 1 || err != nil {
		t.Errorf("ValidationNodes: got %d, %d, %v; want 3, 1", n, s, err)
	}
	if len(set.Subnets) != 1 || len(set.VNets) != 1 || fmt.Sprint(set.VNetPrefixes()) != "[10.0.0.0/16 10.0.0.0/24]" {
		t.Errorf("got %d subnets, %d vnets, prefixes %v", len(set.Subnets), len(set.VNets), set.VNetPrefixes())
	}
	sn := set.Subnets[0]
	if sn.NatGateway == nil || sn.NatGateway.ID != natID || sn.RouteTable.ID != rtID || sn.NetworkSecurityGroup.ID != nsgID {
		t.Errorf("subnet: got %+v", sn)
	}
	if len(set.NSGs) != 2 || len(set.RouteTables) != 1 || len(set.NATGateways) != 1 || len(set.LoadBalancers) != 1 || len(set.Metrics) != 2 {
		t.Errorf("got %d NSGs, %d route tables, %d NAT gateways, %d LBs, %d metrics", len(set.NSGs), len(set.RouteTables), len(set.NATGateways), len(set.LoadBalancers), len(set.Metrics))
	}
	if or := set.LoadBalancers[0].OutboundRules[0]; or.AllocatedOutboundPorts != 1024 || or.IdleTimeoutInMinutes != 4 {
		t.Errorf("outbound rule after the SDK round trip: got %+v", or)
	}
	if got := SNATByBackend(set.Metrics)["10.224.0.4"]; got == nil || got.Used != 1016 {
		t.Errorf("metrics after the SDK round trip: got %+v", got)
	}
}

func TestLiveCollectErrors(t *testing.T) {
	l, _ := fakeAzure(t, true, false)
	_, _, err := l.Collect(context.Background(), Target{Subscription: "subid", ResourceGroup: "rg1", Cluster: "aks1"})
	if err == nil || !strings.Contains(err.Error(), "reading AKS cluster rg1/aks1") || !strings.Contains(err.Error(), "AuthorizationFailed") {
		t.Errorf("cluster forbidden: got %v", err)
	}
	if _, _, err := l.Collect(context.Background(), Target{Subscription: "subid"}); err == nil || !strings.Contains(err.Error(), "no cluster given") {
		t.Errorf("no target: got %v", err)
	}

	l, _ = fakeAzure(t, false, true)
	files, skips, err := l.Collect(context.Background(), Target{Subscription: "subid", ResourceGroup: "rg1", Cluster: "aks1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(skips) != 1 || skips[0].Resource != "load balancers in "+nodeRG || !strings.Contains(skips[0].Reason, "TooManyRequests") {
		t.Errorf("skips: got %+v, want the load balancer list", skips)
	}
	if _, ok := files["azure/nsg-testnsg.json"]; !ok {
		t.Errorf("the other resources must still be collected; got %d files", len(files))
	}
}
