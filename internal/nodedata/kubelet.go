package nodedata

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"
)

// Kubelet is kubelet.json: the kubelet's DNS settings, from its command
// line (--cluster-dns, --cluster-domain) or its config file (clusterDNS,
// clusterDomain); the command line wins, as in the kubelet.
type Kubelet struct {
	ClusterDNS    []string `json:"clusterDNS"`
	ClusterDomain string   `json:"clusterDomain,omitempty"`
	// Source says where they came from: "flags", "config <path>", or both.
	Source string `json:"source"`
	// ConfigPath is the --config file, if any.
	ConfigPath string `json:"configPath,omitempty"`
}

// ParseKubeletCmdline reads the kubelet's flags from /proc/<pid>/cmdline
// (NUL-separated arguments).
func ParseKubeletCmdline(cmdline []byte) Kubelet {
	var k Kubelet
	args := strings.Split(string(bytes.TrimRight(cmdline, "\x00")), "\x00")
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "--") {
			continue
		}
		if !hasVal && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			val = args[i+1]
			i++
		}
		switch name {
		case "cluster-dns":
			for _, s := range strings.Split(val, ",") {
				if s = strings.TrimSpace(s); s != "" {
					k.ClusterDNS = append(k.ClusterDNS, s)
				}
			}
			k.Source = "flags"
		case "cluster-domain":
			k.ClusterDomain = val
			k.Source = "flags"
		case "config":
			k.ConfigPath = val
		}
	}
	return k
}

// MergeKubeletConfig fills what the flags left unset from a
// KubeletConfiguration file (YAML or JSON).
func MergeKubeletConfig(k Kubelet, file string, data []byte) (Kubelet, error) {
	var cfg struct {
		ClusterDNS    []string `json:"clusterDNS"`
		ClusterDomain string   `json:"clusterDomain"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return k, fmt.Errorf("%s: %w", file, err)
	}
	used := false
	if len(k.ClusterDNS) == 0 && len(cfg.ClusterDNS) > 0 {
		k.ClusterDNS = cfg.ClusterDNS
		used = true
	}
	if k.ClusterDomain == "" && cfg.ClusterDomain != "" {
		k.ClusterDomain = cfg.ClusterDomain
		used = true
	}
	if used {
		if k.Source != "" {
			k.Source += ", "
		}
		k.Source += "config " + file
	}
	return k, nil
}

// ParseKubelet reads kubelet.json.
func ParseKubelet(file string, data []byte) (Kubelet, error) {
	var k Kubelet
	if err := json.Unmarshal(data, &k); err != nil {
		return k, fmt.Errorf("%s: %w", file, err)
	}
	return k, nil
}
