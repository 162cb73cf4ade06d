package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netdoctor/netdoctor/internal/snapshot"
)

// TestDeployReadonlyNamesEveryConfigMap keeps deploy/rbac-readonly.yaml in
// step with the kube-system ConfigMaps collection reads by name.
func TestDeployReadonlyNamesEveryConfigMap(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "rbac-readonly.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var names string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "resourceNames:") {
			names = line
		}
	}
	for _, cm := range snapshot.KubeSystemConfigMaps {
		if !strings.Contains(names, `"`+cm+`"`) {
			t.Errorf("deploy/rbac-readonly.yaml resourceNames %q lacks %q", strings.TrimSpace(names), cm)
		}
	}
}
