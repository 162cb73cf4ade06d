package lab

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"text/template"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
)

// CoreDNSReplicas is the number of CoreDNS pods (AKS runs two).
const CoreDNSReplicas = 2

// corednsCorefile is AKS's default Corefile (the coredns ConfigMap).
const corednsCorefile = `.:53 {
    errors
    ready
    health {
      lameduck 5s
    }
    kubernetes cluster.local in-addr.arpa ip6.arpa {
      pods insecure
      fallthrough in-addr.arpa ip6.arpa
      ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf
    cache 30
    loop
    reload
    loadbalance
    import custom/*.override
}
import custom/*.server
`

// nodeLocalCorefile is the node-local-dns ConfigMap of the upstream manifest
// (kubernetes/kubernetes cluster/addons/dns/nodelocaldns/nodelocaldns.yaml)
// with __PILLAR__LOCAL__DNS__, __PILLAR__DNS__SERVER__ and
// __PILLAR__DNS__DOMAIN__ substituted at deploy time, as its docs say; the
// other two placeholders are node-cache's to fill at run time.
const nodeLocalCorefile = `cluster.local:53 {
    errors
    cache {
            success 9984 30
            denial 9984 5
    }
    reload
    loop
    bind 169.254.20.10 10.0.0.10
    forward . __PILLAR__CLUSTER__DNS__ {
            force_tcp
    }
    prometheus :9253
    health 169.254.20.10:8080
    }
in-addr.arpa:53 {
    errors
    cache 30
    reload
    loop
    bind 169.254.20.10 10.0.0.10
    forward . __PILLAR__CLUSTER__DNS__ {
            force_tcp
    }
    prometheus :9253
    }
ip6.arpa:53 {
    errors
    cache 30
    reload
    loop
    bind 169.254.20.10 10.0.0.10
    forward . __PILLAR__CLUSTER__DNS__ {
            force_tcp
    }
    prometheus :9253
    }
.:53 {
    errors
    cache 30
    reload
    loop
    bind 169.254.20.10 10.0.0.10
    forward . __PILLAR__UPSTREAM__SERVERS__
    prometheus :9253
    }
`

const addonsYAML = `
apiVersion: v1
kind: ServiceAccount
metadata:
  name: coredns
  namespace: kube-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:coredns
  labels:
    kubernetes.io/bootstrapping: rbac-defaults
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: system:coredns
  labels:
    kubernetes.io/bootstrapping: rbac-defaults
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: system:coredns
subjects:
- kind: ServiceAccount
  name: coredns
  namespace: kube-system
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: coredns
  namespace: kube-system
  labels:
    addonmanager.kubernetes.io/mode: Reconcile
    k8s-app: kube-dns
    kubernetes.io/cluster-service: "true"
data:
  Corefile: |
{{ indent 4 .Corefile }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: coredns-custom
  namespace: kube-system
  labels:
    addonmanager.kubernetes.io/mode: EnsureExists
    k8s-app: kube-dns
    kubernetes.io/cluster-service: "true"
data: {}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: coredns
  namespace: kube-system
  labels:
    k8s-app: kube-dns
    kubernetes.io/cluster-service: "true"
    version: v20
spec:
  replicas: {{ .Replicas }}
  selector:
    matchLabels:
      k8s-app: kube-dns
      version: v20
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 1
  template:
    metadata:
      labels:
        k8s-app: kube-dns
        kubernetes.io/cluster-service: "true"
        version: v20
    spec:
      serviceAccountName: coredns
      priorityClassName: system-node-critical
      dnsPolicy: Default
      containers:
      - name: coredns
        image: mcr.microsoft.com/oss/v2/kubernetes/coredns:v1.12.4
        args: ["-conf", "/etc/coredns/Corefile"]
        ports:
        - {name: dns, containerPort: 53, protocol: UDP}
        - {name: dns-tcp, containerPort: 53, protocol: TCP}
        - {name: metrics, containerPort: 9153, protocol: TCP}
        readinessProbe:
          httpGet: {path: /ready, port: 8181, scheme: HTTP}
          periodSeconds: 10
        livenessProbe:
          httpGet: {path: /health, port: 8080, scheme: HTTP}
        volumeMounts:
        - {name: config-volume, mountPath: /etc/coredns, readOnly: true}
        - {name: custom-config-volume, mountPath: /etc/coredns/custom, readOnly: true}
      volumes:
      - name: config-volume
        configMap:
          name: coredns
          items:
          - {key: Corefile, path: Corefile}
      - name: custom-config-volume
        configMap:
          name: coredns-custom
          optional: true
---
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels:
    k8s-app: kube-dns
    kubernetes.io/cluster-service: "true"
    kubernetes.io/name: CoreDNS
spec:
  selector:
    k8s-app: kube-dns
  clusterIP: {{ .DNSIP }}
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: 53}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: kube-proxy
  namespace: kube-system
  labels:
    component: kube-proxy
data:
  config.yaml: |
    apiVersion: kubeproxy.config.k8s.io/v1alpha1
    kind: KubeProxyConfiguration
    mode: iptables
    clusterCIDR: {{ .ClusterCIDR }}
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: kube-proxy
  namespace: kube-system
  labels:
    component: kube-proxy
    tier: node
    k8s-app: kube-proxy
spec:
  selector:
    matchLabels:
      component: kube-proxy
      tier: node
  template:
    metadata:
      labels:
        component: kube-proxy
        tier: node
        k8s-app: kube-proxy
    spec:
      hostNetwork: true
      priorityClassName: system-node-critical
      tolerations:
      - operator: Exists
      containers:
      - name: kube-proxy
        image: mcr.microsoft.com/oss/v2/kubernetes/kube-proxy:{{ .KubernetesVersion }}
        command: ["kube-proxy", "--config=/var/lib/kube-proxy/config.yaml"]
        securityContext:
          privileged: true
        volumeMounts:
        - {name: kube-proxy-config, mountPath: /var/lib/kube-proxy}
      volumes:
      - name: kube-proxy-config
        configMap:
          name: kube-proxy
`

const nodeLocalYAML = `
apiVersion: v1
kind: ServiceAccount
metadata:
  name: node-local-dns
  namespace: kube-system
  labels:
    addonmanager.kubernetes.io/mode: Reconcile
---
apiVersion: v1
kind: Service
metadata:
  name: kube-dns-upstream
  namespace: kube-system
  labels:
    k8s-app: kube-dns
    kubernetes.io/cluster-service: "true"
    addonmanager.kubernetes.io/mode: Reconcile
    kubernetes.io/name: "KubeDNSUpstream"
spec:
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: 53}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
  selector:
    k8s-app: kube-dns
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: node-local-dns
  namespace: kube-system
  labels:
    addonmanager.kubernetes.io/mode: Reconcile
data:
  Corefile: |
{{ indent 4 .NodeLocalCorefile }}
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: node-local-dns
  namespace: kube-system
  labels:
    k8s-app: node-local-dns
    kubernetes.io/cluster-service: "true"
    addonmanager.kubernetes.io/mode: Reconcile
spec:
  updateStrategy:
    rollingUpdate:
      maxUnavailable: 10%
  selector:
    matchLabels:
      k8s-app: node-local-dns
  template:
    metadata:
      labels:
        k8s-app: node-local-dns
      annotations:
        prometheus.io/port: "9253"
        prometheus.io/scrape: "true"
    spec:
      priorityClassName: system-node-critical
      serviceAccountName: node-local-dns
      hostNetwork: true
      dnsPolicy: Default
      tolerations:
      - key: "CriticalAddonsOnly"
        operator: "Exists"
      - effect: "NoExecute"
        operator: "Exists"
      - effect: "NoSchedule"
        operator: "Exists"
      containers:
      - name: node-cache
        image: registry.k8s.io/dns/k8s-dns-node-cache:1.26.4
        args: [ "-localip", "{{ .NodeLocalIP }},{{ .DNSIP }}", "-conf", "/etc/Corefile", "-upstreamsvc", "kube-dns-upstream" ]
        securityContext:
          capabilities:
            add:
            - NET_ADMIN
        ports:
        - {containerPort: 53, name: dns, protocol: UDP}
        - {containerPort: 53, name: dns-tcp, protocol: TCP}
        - {containerPort: 9253, name: metrics, protocol: TCP}
        livenessProbe:
          httpGet:
            host: {{ .NodeLocalIP }}
            path: /health
            port: 8080
          initialDelaySeconds: 60
          timeoutSeconds: 5
        volumeMounts:
        - mountPath: /run/xtables.lock
          name: xtables-lock
          readOnly: false
        - name: config-volume
          mountPath: /etc/coredns
        - name: kube-dns-config
          mountPath: /etc/kube-dns
      volumes:
      - name: xtables-lock
        hostPath:
          path: /run/xtables.lock
          type: FileOrCreate
      - name: kube-dns-config
        configMap:
          name: kube-dns
          optional: true
      - name: config-volume
        configMap:
          name: node-local-dns
          items:
            - key: Corefile
              path: Corefile.base
`

func renderYAML(text string, data any) (string, error) {
	t, err := template.New("addons").Funcs(template.FuncMap{
		"indent": func(n int, s string) string {
			pad := strings.Repeat(" ", n)
			lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
			for i, l := range lines {
				lines[i] = pad + l
			}
			return strings.Join(lines, "\n")
		},
	}).Parse(text)
	if err != nil {
		return "", fmt.Errorf("parse addons template: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("render addons: %w", err)
	}
	return b.String(), nil
}

// decodeObjects splits a multi-document YAML into typed objects.
func decodeObjects(y string) ([]runtime.Object, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(y)))
	var objs []runtime.Object
	for {
		doc, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read yaml: %w", err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("decode yaml: %w", err)
		}
		objs = append(objs, obj)
	}
	return objs, nil
}

// Apply creates the objects of a multi-document YAML (ServiceAccount,
// ClusterRole(Binding), ConfigMap, Deployment, DaemonSet, Service, Pod,
// Namespace), leaving existing ones alone.
func Apply(ctx context.Context, c kubernetes.Interface, y string) error {
	objs, err := decodeObjects(y)
	if err != nil {
		return err
	}
	for _, o := range objs {
		var err error
		co := metav1.CreateOptions{}
		switch v := o.(type) {
		case *corev1.ServiceAccount:
			_, err = c.CoreV1().ServiceAccounts(v.Namespace).Create(ctx, v, co)
		case *rbacv1.ClusterRole:
			_, err = c.RbacV1().ClusterRoles().Create(ctx, v, co)
		case *rbacv1.ClusterRoleBinding:
			_, err = c.RbacV1().ClusterRoleBindings().Create(ctx, v, co)
		case *corev1.ConfigMap:
			_, err = c.CoreV1().ConfigMaps(v.Namespace).Create(ctx, v, co)
		case *appsv1.Deployment:
			_, err = c.AppsV1().Deployments(v.Namespace).Create(ctx, v, co)
		case *appsv1.DaemonSet:
			_, err = c.AppsV1().DaemonSets(v.Namespace).Create(ctx, v, co)
		case *corev1.Service:
			_, err = c.CoreV1().Services(v.Namespace).Create(ctx, v, co)
		case *corev1.Pod:
			_, err = c.CoreV1().Pods(v.Namespace).Create(ctx, v, co)
		case *corev1.Namespace:
			_, err = c.CoreV1().Namespaces().Create(ctx, v, co)
		default:
			err = fmt.Errorf("unsupported kind %T", o)
		}
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("apply: %w", err)
		}
	}
	return nil
}

func (l *Lab) applyAddons(ctx context.Context) error {
	data := map[string]any{
		"Corefile": corednsCorefile, "NodeLocalCorefile": nodeLocalCorefile, "Replicas": CoreDNSReplicas,
		"DNSIP": ClusterDNSIP, "NodeLocalIP": NodeLocalIP, "ClusterCIDR": ClusterCIDR,
		"KubernetesVersion": KubernetesVersion,
	}
	text := addonsYAML
	if !l.state.Config.NoNodeLocalDNS {
		text += "---\n" + nodeLocalYAML
	}
	y, err := renderYAML(text, data)
	if err != nil {
		return err
	}
	// The default ServiceAccount of kube-system comes from the controller
	// manager; the ServiceAccount admission plugin rejects pods until then.
	if err := waitFor(ctx, "kube-system default service account", 300*time.Millisecond, func(ctx context.Context) (bool, error) {
		_, err := l.client.CoreV1().ServiceAccounts("kube-system").Get(ctx, "default", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		_, err = l.client.CoreV1().ConfigMaps("kube-system").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		return err == nil, err
	}); err != nil {
		return err
	}
	return Apply(ctx, l.client, y)
}

// KubeDNSEndpoints lists the ready endpoint addresses of the kube-dns
// Service, from its EndpointSlices.
func (l *Lab) KubeDNSEndpoints(ctx context.Context) ([]string, error) {
	slices, err := l.client.DiscoveryV1().EndpointSlices("kube-system").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=kube-dns"})
	if err != nil {
		return nil, fmt.Errorf("list kube-dns endpointslices: %w", err)
	}
	seen := map[string]bool{}
	var out []string
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			for _, a := range e.Addresses {
				if !seen[a] {
					seen[a] = true
					out = append(out, a)
				}
			}
		}
	}
	return out, nil
}
