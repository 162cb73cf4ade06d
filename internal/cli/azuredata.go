package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/spf13/pflag"

	"github.com/netdoctor/netdoctor/internal/azure"
	"github.com/netdoctor/netdoctor/internal/snapshot"
)

// azureTimeout bounds the live Azure collection.
const azureTimeout = 2 * time.Minute

// azureCollector reads a cluster's Azure resources (azure.Live; tests
// inject a fake).
type azureCollector interface {
	Collect(ctx context.Context, t azure.Target) (map[string][]byte, []azure.Skip, error)
}

// azureOptions controls collection of Azure resources for collect and
// diagnose: live through the Azure SDK (--azure), or az CLI JSON files
// given by hand (--azure-dir).
type azureOptions struct {
	enabled       bool
	dir           string
	subscription  string
	resourceGroup string
	clusterName   string
	// newCollector builds the live collector for a subscription; nil means
	// the Azure SDK with DefaultAzureCredential.
	newCollector func(subscription string) (azureCollector, error)
}

func (o *azureOptions) addFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.enabled, "azure", false, "also read the cluster's Azure resources (load balancer, NAT gateway, route tables, NSGs, SNAT metrics) through the Azure API, with the credentials of DefaultAzureCredential (az login, environment, managed identity)")
	fs.StringVar(&o.dir, "azure-dir", "", "read Azure resources from az CLI JSON files in DIR (az aks show, az network lb/nsg/route-table/nat gateway/vnet subnet show, az monitor metrics list; see docs/egress.md)")
	fs.StringVar(&o.subscription, "subscription", "", "Azure subscription of the cluster (default: from the nodes' providerID)")
	fs.StringVar(&o.resourceGroup, "resource-group", "", "resource group of the AKS cluster (default: found from the nodes' node resource group)")
	fs.StringVar(&o.clusterName, "cluster-name", "", "name of the AKS cluster (default: found from the nodes' node resource group)")
}

// collect adds Azure resource JSON to snap.Files (azure/<name>.json) and
// records what it could not collect in snap.Manifest.Skipped. Files given
// with --azure-dir must be valid: a bad one is an error naming it. Live
// collection that cannot run (no credentials, no subscription, API errors)
// is recorded as skipped, and the Azure checks report why.
func (o *azureOptions) collect(ctx context.Context, g *globals, snap *snapshot.Snapshot) error {
	if o.dir != "" {
		if err := addAzureDir(o.dir, snap); err != nil {
			return err
		}
	}
	if !o.enabled {
		if o.dir == "" && (o.subscription != "" || o.resourceGroup != "" || o.clusterName != "") {
			return usageError("--subscription, --resource-group and --cluster-name need --azure")
		}
		return nil
	}
	if (o.resourceGroup == "") != (o.clusterName == "") {
		return usageError("--resource-group and --cluster-name go together")
	}
	t := o.target(snap)
	if t.Subscription == "" {
		skipAzure(snap, "azure", "no Azure subscription: give --subscription, or the nodes need an azure:// providerID")
		return nil
	}
	if t.Cluster == "" && t.NodeResourceGroup == "" {
		skipAzure(snap, "azure", "no AKS cluster: give --resource-group and --cluster-name, or the nodes need an azure:// providerID")
		return nil
	}
	newCollector := o.newCollector
	if newCollector == nil {
		newCollector = newSDKCollector
	}
	c, err := newCollector(t.Subscription)
	if err != nil {
		skipAzure(snap, "azure", err.Error())
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, azureTimeout)
	defer cancel()
	files, skips, err := c.Collect(ctx, t)
	if err != nil {
		skipAzure(snap, "azure", err.Error())
		return nil
	}
	for name, b := range files {
		snap.SetFile(name, b)
	}
	for _, sk := range skips {
		skipAzure(snap, "azure/"+sk.Resource, sk.Reason)
	}
	return nil
}

// offline adds the --azure-dir files to a snapshot read from a bundle
// (diagnose --bundle); live collection (--azure) needs the cluster.
func (o *azureOptions) offline(snap *snapshot.Snapshot) error {
	if o.enabled {
		return usageError("--azure reads a live cluster; with --bundle give az JSON files with --azure-dir")
	}
	if o.dir == "" {
		return nil
	}
	return addAzureDir(o.dir, snap)
}

// target is the cluster to read: flags first, then the nodes' providerID.
func (o *azureOptions) target(snap *snapshot.Snapshot) azure.Target {
	t := azure.Target{Subscription: o.subscription, ResourceGroup: o.resourceGroup, Cluster: o.clusterName}
	for i := range snap.Nodes {
		id, ok := azure.ParseProviderID(snap.Nodes[i].Spec.ProviderID)
		if !ok {
			continue
		}
		if t.Subscription == "" {
			t.Subscription = id.Subscription
		}
		if t.NodeResourceGroup == "" && strings.EqualFold(id.Subscription, t.Subscription) {
			t.NodeResourceGroup = id.ResourceGroup
		}
	}
	return t
}

func newSDKCollector(subscription string) (azureCollector, error) {
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return nil, fmt.Errorf("no Azure credentials: %w", err)
	}
	return azure.NewLive(subscription, cred, azure.ClientOptions{})
}

func skipAzure(snap *snapshot.Snapshot, resource, reason string) {
	snap.Manifest.Skipped = append(snap.Manifest.Skipped, snapshot.Skip{Resource: resource, Reason: reason})
}

// addAzureDir stores every *.json file of dir at azure/<name>.json, after
// checking that netdoctor can read it.
func addAzureDir(dir string, snap *snapshot.Snapshot) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return usageError("--azure-dir: %v", err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".json") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return usageError("--azure-dir %s: no .json files (see docs/egress.md for the az commands that write them)", dir)
	}
	var check azure.Set
	for _, n := range names {
		p := filepath.Join(dir, n)
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("--azure-dir: %w", err)
		}
		if err := check.Add(p, b); err != nil {
			return usageError("--azure-dir: %v", err)
		}
		snap.SetFile(azure.Dir+n, b)
	}
	return nil
}
