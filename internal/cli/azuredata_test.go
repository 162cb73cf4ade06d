package cli

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdoctor/netdoctor/internal/azure"
	"github.com/netdoctor/netdoctor/internal/snapshot"
)

type fakeCollector struct {
	got   azure.Target
	files map[string][]byte
	skips []azure.Skip
	err   error
}

func (f *fakeCollector) Collect(_ context.Context, t azure.Target) (map[string][]byte, []azure.Skip, error) {
	f.got = t
	return f.files, f.skips, f.err
}

func aksNode(name, providerID string) corev1.Node {
	return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{ProviderID: providerID}}
}

const testProviderID = "azure:///subscriptions/0b1f6471-1bf0-4dda-aec3-111122223333/resourceGroups/mc_rg-shop_aks-shop_westeurope/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1-22064185-vmss/virtualMachines/0"

func TestAzureLiveHook(t *testing.T) {
	tests := []struct {
		name       string
		opts       azureOptions
		nodes      []corev1.Node
		collector  *fakeCollector
		wantTarget azure.Target
		wantFiles  []string
		wantSkip   string
	}{
		{
			name:       "target from providerID",
			opts:       azureOptions{enabled: true},
			nodes:      []corev1.Node{aksNode("kind-worker", "kind://docker/kind/kind-worker"), aksNode("aks-0", testProviderID)},
			collector:  &fakeCollector{files: map[string][]byte{"azure/aks.json": []byte(`{}`)}, skips: []azure.Skip{{Resource: "load balancers in mc_rg", Reason: "403"}}},
			wantTarget: azure.Target{Subscription: "0b1f6471-1bf0-4dda-aec3-111122223333", NodeResourceGroup: "mc_rg-shop_aks-shop_westeurope"},
			wantFiles:  []string{"azure/aks.json"},
			wantSkip:   "azure/load balancers in mc_rg: 403",
		},
		{
			name:       "flags win",
			opts:       azureOptions{enabled: true, subscription: "sub2", resourceGroup: "rg", clusterName: "aks"},
			nodes:      []corev1.Node{aksNode("aks-0", testProviderID)},
			collector:  &fakeCollector{},
			wantTarget: azure.Target{Subscription: "sub2", ResourceGroup: "rg", Cluster: "aks"},
		},
		{
			name:     "no subscription anywhere",
			opts:     azureOptions{enabled: true},
			nodes:    []corev1.Node{aksNode("kind-worker", "kind://docker/kind/kind-worker")},
			wantSkip: "azure: no Azure subscription",
		},
		{
			name:       "collector fails: skipped, not fatal",
			opts:       azureOptions{enabled: true},
			nodes:      []corev1.Node{aksNode("aks-0", testProviderID)},
			collector:  &fakeCollector{err: errors.New("DefaultAzureCredential: failed to acquire a token")},
			wantTarget: azure.Target{Subscription: "0b1f6471-1bf0-4dda-aec3-111122223333", NodeResourceGroup: "mc_rg-shop_aks-shop_westeurope"},
			wantSkip:   "azure: DefaultAzureCredential: failed to acquire a token",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			called := false
			o.newCollector = func(sub string) (azureCollector, error) {
				called = true
				if tt.collector == nil {
					t.Fatalf("collector built for %q, want none", sub)
				}
				return tt.collector, nil
			}
			snap := &snapshot.Snapshot{Nodes: tt.nodes}
			if err := o.collect(context.Background(), nil, snap); err != nil {
				t.Fatal(err)
			}
			if tt.collector != nil {
				if !called || tt.collector.got != tt.wantTarget {
					t.Errorf("target: got %+v (called %v), want %+v", tt.collector.got, called, tt.wantTarget)
				}
			}
			for _, f := range tt.wantFiles {
				if _, ok := snap.File(f); !ok {
					t.Errorf("file %s not stored", f)
				}
			}
			var skips []string
			for _, s := range snap.Manifest.Skipped {
				skips = append(skips, s.Resource+": "+s.Reason)
			}
			if tt.wantSkip != "" && (len(skips) != 1 || !strings.HasPrefix(skips[0], tt.wantSkip)) {
				t.Errorf("skipped: got %v, want %q", skips, tt.wantSkip)
			}
			if tt.wantSkip == "" && len(skips) != 0 {
				t.Errorf("skipped: got %v, want none", skips)
			}
		})
	}
}

func TestAzureDir(t *testing.T) {
	o := azureOptions{dir: "../azure/testdata/az"}
	snap := &snapshot.Snapshot{}
	if err := o.collect(context.Background(), nil, snap); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"azure/aks-show-kubenet.json", "azure/aks-show-azurecni.json", "azure/metrics-snat.json"} {
		if _, ok := snap.File(f); !ok {
			t.Errorf("%s not stored", f)
		}
	}
	set, errs := azure.Load(snap.Files)
	if len(errs) > 0 || len(set.Clusters) != 2 {
		t.Errorf("stored files read back as %d clusters, errors %v", len(set.Clusters), errs)
	}

	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "nsg.json"), []byte("{\n  \"type\": \"Microsoft.Network/networkSecurityGroups\",\n  \"securityRules\": [\n    {\"name\": \"x\",}\n  ]\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := (&azureOptions{dir: bad}).collect(context.Background(), nil, &snapshot.Snapshot{})
	if err == nil || !strings.Contains(err.Error(), "nsg.json:4: invalid JSON") || ExitCode(err) != ExitError {
		t.Errorf("bad file: got %v (exit %d), want an exit-2 error naming nsg.json:4", err, ExitCode(err))
	}
	err = (&azureOptions{dir: t.TempDir()}).collect(context.Background(), nil, &snapshot.Snapshot{})
	if err == nil || !strings.Contains(err.Error(), "no .json files") {
		t.Errorf("empty dir: got %v", err)
	}
	err = (&azureOptions{subscription: "x"}).collect(context.Background(), nil, &snapshot.Snapshot{})
	if err == nil || !strings.Contains(err.Error(), "need --azure") {
		t.Errorf("--subscription alone: got %v", err)
	}
}

func TestAzureOffline(t *testing.T) {
	snap := &snapshot.Snapshot{}
	if err := (&azureOptions{dir: "../azure/testdata/az"}).offline(snap); err != nil {
		t.Fatal(err)
	}
	if _, ok := snap.File("azure/aks-show-kubenet.json"); !ok {
		t.Errorf("--azure-dir files not added to the bundle's snapshot")
	}
	if err := (&azureOptions{enabled: true}).offline(snap); err == nil || ExitCode(err) != ExitError {
		t.Errorf("--azure with a bundle: got %v, want a usage error", err)
	}
	if err := (&azureOptions{}).offline(snap); err != nil {
		t.Errorf("no Azure flags: got %v", err)
	}
}
