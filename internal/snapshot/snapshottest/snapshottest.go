// Package snapshottest builds snapshots for tests from YAML files of
// Kubernetes objects, the way they are written in manifests.
package snapshottest

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/netdoctor/netdoctor/internal/snapshot"
)

// DefaultNow is the collection time of snapshots built here unless the
// YAML sets one with a "# now: RFC3339" comment line.
var DefaultNow = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

var docSep = regexp.MustCompile(`(?m)^---\s*$`)
var nowLine = regexp.MustCompile(`(?m)^# now: (\S+)\s*$`)

// FromYAML parses multi-document YAML of Kubernetes objects (Node, Namespace, Pod,
// Service, EndpointSlice, NetworkPolicy, Event, ConfigMap, DaemonSet,
// Deployment) into a snapshot. name is used in errors.
func FromYAML(name string, data []byte) (*snapshot.Snapshot, error) {
	s := &snapshot.Snapshot{Manifest: snapshot.Manifest{Schema: snapshot.BundleSchema, ToolVersion: "test", CollectedAt: DefaultNow}}
	if m := nowLine.FindSubmatch(data); m != nil {
		t, err := time.Parse(time.RFC3339, string(m[1]))
		if err != nil {
			return nil, fmt.Errorf("%s: bad '# now:' line: %w", name, err)
		}
		s.Manifest.CollectedAt = t
	}
	for i, doc := range docSep.Split(string(data), -1) {
		if len(bytes.TrimSpace([]byte(doc))) == 0 {
			continue
		}
		var meta struct {
			Kind string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", name, i+1, err)
		}
		var err error
		switch meta.Kind {
		case "":
			if onlyComments(doc) {
				continue
			}
			err = fmt.Errorf("no kind")
		case "Node":
			err = add(doc, &s.Nodes)
		case "Namespace":
			err = add(doc, &s.Namespaces)
		case "Pod":
			err = add(doc, &s.Pods)
		case "Service":
			err = add(doc, &s.Services)
		case "EndpointSlice":
			err = add(doc, &s.EndpointSlices)
		case "NetworkPolicy":
			err = add(doc, &s.NetworkPolicies)
		case "Event":
			err = add(doc, &s.Events)
		case "ConfigMap":
			err = add(doc, &s.ConfigMaps)
		case "DaemonSet":
			err = add(doc, &s.DaemonSets)
		case "Deployment":
			err = add(doc, &s.Deployments)
		case "Skip":
			var sk snapshot.Skip
			err = yaml.Unmarshal([]byte(doc), &sk)
			s.Manifest.Skipped = append(s.Manifest.Skipped, sk)
		default:
			err = fmt.Errorf("unsupported kind %q", meta.Kind)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", name, i+1, err)
		}
	}
	return s, nil
}

// Load reads a YAML file with FromYAML.
func Load(path string) (*snapshot.Snapshot, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return FromYAML(path, data)
}

func add[T any](doc string, list *[]T) error {
	var obj T
	if err := yaml.UnmarshalStrict([]byte(doc), &obj); err != nil {
		return err
	}
	*list = append(*list, obj)
	return nil
}

// onlyComments reports whether a YAML document has nothing but comments.
func onlyComments(doc string) bool {
	for _, line := range strings.Split(doc, "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}

// LoadCase builds a snapshot from a case directory: cluster.yaml holds the
// Kubernetes objects, and every other file (but *.yaml and *.golden.json)
// is a bundle artifact at its path below the directory
// (nodes/<node>/..., azure/..., probes/...).
func LoadCase(dir string) (*snapshot.Snapshot, error) {
	s, err := Load(filepath.Join(dir, "cluster.yaml"))
	if err != nil {
		return nil, err
	}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".golden.json") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		s.SetFile(filepath.ToSlash(rel), b)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("case %s: %w", dir, err)
	}
	return s, nil
}
