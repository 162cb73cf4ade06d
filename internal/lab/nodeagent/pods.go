package nodeagent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/netdoctor/netdoctor/internal/lab/nsnet"
)

// podRun is the agent's record of one pod it runs.
type podRun struct {
	mu         sync.Mutex
	uid        types.UID
	ns, name   string
	dir        string
	netns      string // namespace name; the node's for hostNetwork pods
	hostNet    bool
	ip         netip.Addr
	hostVeth   string
	startedAt  time.Time
	containers []*ctrRun
	closers    []io.Closer
	cleanups   []func()
	deleting   bool
	deadlined  bool
	stopped    bool
	ctx        context.Context
	cancel     context.CancelFunc
	pod        *corev1.Pod
	// setupDone closes when startPod has finished setting the pod up, so a
	// teardown never races the setup.
	setupDone chan struct{}
}

// ctrRun is one container of a pod.
type ctrRun struct {
	name, image  string
	kind         ctrKind
	cmd          *exec.Cmd
	argv         []string
	env          []string
	binds        []string
	workdir      string
	logPath      string
	running      bool
	ready        bool
	startedAt    time.Time
	finishedAt   time.Time
	exitCode     int
	terminated   bool
	reason       string
	message      string
	waiting      string
	waitingMsg   string
	restartCount int32
	id           string
	// last is the previous run's termination while a restart is pending.
	last *corev1.ContainerStateTerminated
}

type ctrKind int

const (
	kindServer    ctrKind = iota // in-process servers on the container ports
	kindProcess                  // a real process (netdoctor, coredns, host commands)
	kindNodeCache                // coredns run the way node-cache runs it
	kindLoad                     // in-process bounded connection holder
	kindKubeProxy                // the lab's kube-proxy process of this node, shown as the pod
)

func (a *Agent) watchPods(ctx context.Context) error {
	factory := informers.NewSharedInformerFactoryWithOptions(a.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", a.cfg.NodeName).String()
		}))
	inf := factory.Core().V1().Pods().Informer()
	handle := func(obj any) {
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		a.onPod(ctx, pod)
	}
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    handle,
		UpdateFunc: func(_, obj any) { handle(obj) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if pod, ok := obj.(*corev1.Pod); ok {
				a.onPodGone(pod.UID)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("add pod handler: %w", err)
	}
	factory.Start(ctx.Done())
	<-ctx.Done()
	factory.Shutdown()
	return nil
}

func (a *Agent) onPod(ctx context.Context, pod *corev1.Pod) {
	a.mu.Lock()
	pr := a.pods[string(pod.UID)]
	if pr == nil {
		if pod.DeletionTimestamp != nil {
			a.mu.Unlock()
			// Never started here (or started before a restart): just finalise.
			go a.finalizeDelete(ctx, pod.Namespace, pod.Name, pod.UID)
			return
		}
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			a.mu.Unlock()
			return
		}
		pctx, cancel := context.WithCancel(ctx)
		pr = &podRun{uid: pod.UID, ns: pod.Namespace, name: pod.Name, ctx: pctx, cancel: cancel, pod: pod.DeepCopy(), setupDone: make(chan struct{})}
		a.pods[string(pod.UID)] = pr
		a.mu.Unlock()
		go a.startPod(pr, pod.DeepCopy())
		return
	}
	a.mu.Unlock()
	if pod.DeletionTimestamp != nil {
		pr.mu.Lock()
		first := !pr.deleting
		pr.deleting = true
		pr.mu.Unlock()
		if first {
			grace := int64(30)
			if pod.DeletionGracePeriodSeconds != nil {
				grace = *pod.DeletionGracePeriodSeconds
			}
			go a.deletePod(ctx, pr, time.Duration(grace)*time.Second)
		}
	}
}

func (a *Agent) onPodGone(uid types.UID) {
	a.mu.Lock()
	pr := a.pods[string(uid)]
	a.mu.Unlock()
	if pr != nil {
		a.teardownPod(pr, 2*time.Second)
	}
}

func (a *Agent) stopAll() {
	a.mu.Lock()
	prs := make([]*podRun, 0, len(a.pods))
	for _, pr := range a.pods {
		prs = append(prs, pr)
	}
	a.mu.Unlock()
	var wg sync.WaitGroup
	for _, pr := range prs {
		wg.Add(1)
		go func() { defer wg.Done(); a.teardownPod(pr, 3*time.Second) }()
	}
	wg.Wait()
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// allocIP takes the lowest free address of the pod CIDR from .2 on.
func (a *Agent) allocIP(owner string) (netip.Addr, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	gw := a.cfg.PodCIDR.Masked().Addr().Next()
	for ip := gw.Next(); a.cfg.PodCIDR.Contains(ip); ip = ip.Next() {
		if ip.As4()[3] == 255 {
			break
		}
		if _, used := a.ipsUsed[ip]; !used {
			a.ipsUsed[ip] = owner
			return ip, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("pod cidr %s is full", a.cfg.PodCIDR)
}

func (a *Agent) releaseIP(ip netip.Addr) {
	a.mu.Lock()
	delete(a.ipsUsed, ip)
	a.mu.Unlock()
}

// gateway is the pods' default gateway: the first address of the pod CIDR,
// configured on every host-side veth (point-to-point routing, as the ptp CNI
// plugin does), so every pod packet goes through the node's iptables.
func (a *Agent) gateway() netip.Addr { return a.cfg.PodCIDR.Masked().Addr().Next() }

func (a *Agent) startPod(pr *podRun, pod *corev1.Pod) {
	err := a.setupPod(pr, pod)
	close(pr.setupDone)
	if err != nil {
		a.logf("pod %s/%s: %v", pod.Namespace, pod.Name, err)
		pr.mu.Lock()
		for _, c := range pr.containers {
			if !c.running && !c.terminated && c.waiting == "" {
				c.waiting, c.waitingMsg = "CreateContainerError", err.Error()
			}
		}
		pr.mu.Unlock()
	}
	a.updateStatus(pr)
	if pod.Spec.ActiveDeadlineSeconds != nil {
		go a.enforceDeadline(pr, time.Duration(*pod.Spec.ActiveDeadlineSeconds)*time.Second)
	}
	go a.probeLoop(pr, pod)
}

func (a *Agent) setupPod(pr *podRun, pod *corev1.Pod) error {
	pr.mu.Lock()
	pr.hostNet = pod.Spec.HostNetwork
	pr.startedAt = time.Now()
	pr.dir = filepath.Join(a.podsDir(), fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID))
	for _, c := range pod.Spec.Containers {
		pr.containers = append(pr.containers, &ctrRun{name: c.Name, image: c.Image, waiting: "ContainerCreating"})
	}
	pr.mu.Unlock()
	if err := os.MkdirAll(pr.dir, 0o755); err != nil {
		return fmt.Errorf("create pod dir: %w", err)
	}
	if pod.Spec.HostNetwork {
		pr.mu.Lock()
		pr.netns, pr.ip = a.cfg.NetNS, a.cfg.NodeIP
		pr.mu.Unlock()
	} else if err := a.setupPodNetwork(pr); err != nil {
		return err
	}
	if err := a.writeDNSFiles(pr, pod); err != nil {
		return err
	}
	// Like the kubelet, retry volumes whose sources do not exist yet (the
	// kube-root-ca.crt ConfigMap appears shortly after a namespace does).
	var vols map[string]string
	for attempt := 0; ; attempt++ {
		var err error
		vols, err = a.materializeVolumes(pr, pod)
		if err == nil {
			break
		}
		if attempt%10 == 0 {
			a.logf("pod %s/%s: %v (retrying)", pod.Namespace, pod.Name, err)
		}
		if attempt >= 300 || !sleepCtx(pr.ctx, time.Second) {
			return err
		}
	}
	var errs []error
	for i := range pod.Spec.Containers {
		if err := a.startContainer(pr, pod, i, vols); err != nil {
			errs = append(errs, fmt.Errorf("container %s: %w", pod.Spec.Containers[i].Name, err))
		}
	}
	return errors.Join(errs...)
}

func (a *Agent) setupPodNetwork(pr *podRun) error {
	ip, err := a.allocIP(string(pr.uid))
	if err != nil {
		return err
	}
	octets := ip.As4()
	ns := fmt.Sprintf("%sn%dp%d", a.cfg.NetNSPrefix, a.cfg.Index, octets[3])
	veth := fmt.Sprintf("ndl-n%dv%d", a.cfg.Index, octets[3])
	pr.mu.Lock()
	pr.ip, pr.netns, pr.hostVeth = ip, ns, veth
	pr.mu.Unlock()
	gw := a.gateway().String()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// A stale namespace of the same name (from a crashed agent) is replaced.
	_ = run(ctx, "ip", "netns", "del", ns)
	_ = run(ctx, "ip", "link", "del", veth)
	steps := [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns},
		{"ip", "-n", ns, "link", "set", "lo", "up"},
		{"ip", "-n", ns, "addr", "add", ip.String() + "/32", "dev", "eth0"},
		{"ip", "-n", ns, "link", "set", "eth0", "up"},
		{"ip", "-n", ns, "route", "add", gw, "dev", "eth0", "scope", "link"},
		{"ip", "-n", ns, "route", "add", "default", "via", gw, "dev", "eth0"},
		{"ip", "addr", "add", gw + "/32", "dev", veth},
		{"ip", "link", "set", veth, "up"},
		{"ip", "route", "replace", ip.String() + "/32", "dev", veth, "scope", "link", "src", gw},
	}
	for _, s := range steps {
		if err := run(ctx, s[0], s[1:]...); err != nil {
			return fmt.Errorf("pod network: %w", err)
		}
	}
	return nil
}

// writeDNSFiles writes the pod's resolv.conf and hosts file the way the
// kubelet builds them from dnsPolicy and dnsConfig.
func (a *Agent) writeDNSFiles(pr *podRun, pod *corev1.Pod) error {
	var resolv string
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = corev1.DNSClusterFirst
	}
	if pod.Spec.HostNetwork && policy == corev1.DNSClusterFirst {
		policy = corev1.DNSDefault
	}
	nodeResolv, _ := os.ReadFile(a.cfg.NodeResolvConf)
	var servers, searches []string
	options := []string{}
	switch policy {
	case corev1.DNSDefault:
		resolv = string(nodeResolv)
	case corev1.DNSNone:
	default:
		d := a.cfg.ClusterDomain
		servers = []string{a.cfg.ClusterDNS}
		searches = []string{pod.Namespace + ".svc." + d, "svc." + d, d}
		for _, l := range strings.Split(string(nodeResolv), "\n") {
			f := strings.Fields(l)
			if len(f) > 1 && f[0] == "search" {
				searches = append(searches, f[1:]...)
			}
		}
		options = []string{"ndots:5"}
	}
	if dc := pod.Spec.DNSConfig; dc != nil {
		servers = append(servers, dc.Nameservers...)
		searches = append(searches, dc.Searches...)
		for _, o := range dc.Options {
			s := o.Name
			if o.Value != nil {
				s += ":" + *o.Value
			}
			options = append(options, s)
		}
	}
	if resolv == "" || pod.Spec.DNSConfig != nil {
		var b strings.Builder
		if len(searches) > 0 {
			fmt.Fprintf(&b, "search %s\n", strings.Join(searches, " "))
		}
		for _, s := range servers {
			fmt.Fprintf(&b, "nameserver %s\n", s)
		}
		if len(options) > 0 {
			fmt.Fprintf(&b, "options %s\n", strings.Join(options, " "))
		}
		if policy == corev1.DNSDefault {
			b.WriteString(resolv)
		}
		resolv = b.String()
	}
	hostname := pod.Name
	if pod.Spec.HostNetwork {
		hostname = a.cfg.NodeName
	}
	hosts := fmt.Sprintf("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n%s\t%s\n", pr.ip, hostname)
	if err := os.WriteFile(filepath.Join(pr.dir, "resolv.conf"), []byte(resolv), 0o644); err != nil {
		return fmt.Errorf("write resolv.conf: %w", err)
	}
	if err := os.WriteFile(filepath.Join(pr.dir, "hosts"), []byte(hosts), 0o644); err != nil {
		return fmt.Errorf("write hosts: %w", err)
	}
	return nil
}

// containerKind decides how the lab runs a container from its image name.
func containerKind(image string) ctrKind {
	img := strings.ToLower(image)
	switch {
	case strings.Contains(img, "netdoctor"):
		return kindProcess
	case strings.Contains(img, "node-cache"):
		return kindNodeCache
	case strings.Contains(img, "coredns"):
		return kindProcess
	case strings.Contains(img, "ndlab-load"):
		return kindLoad
	case strings.Contains(img, "kube-proxy"):
		return kindKubeProxy
	}
	return kindServer
}

func (a *Agent) startContainer(pr *podRun, pod *corev1.Pod, i int, vols map[string]string) error {
	c := pod.Spec.Containers[i]
	pr.mu.Lock()
	cr := pr.containers[i]
	pr.mu.Unlock()
	cr.kind = containerKind(c.Image)
	cr.logPath = filepath.Join(pr.dir, c.Name+".log")
	if unpullable(c.Image) {
		a.failPull(pr, cr, c.Image)
		return nil
	}
	if f, err := os.Create(cr.logPath); err == nil {
		f.Close()
	}
	switch cr.kind {
	case kindServer:
		closers, err := a.startServers(pr, pod, c)
		pr.mu.Lock()
		pr.closers = append(pr.closers, closers...)
		pr.mu.Unlock()
		if err != nil {
			return err
		}
		a.markRunning(pr, cr)
		return nil
	case kindLoad:
		go a.runLoad(pr, pod, c, cr)
		a.markRunning(pr, cr)
		return nil
	case kindKubeProxy:
		// kube-proxy runs as a lab process of the node (it must be up
		// before any pod); the DaemonSet's pod stands for it and serves its
		// log.
		_ = os.Remove(cr.logPath)
		if err := os.Symlink(filepath.Join(a.cfg.RunDir, "logs", fmt.Sprintf("kube-proxy-%d.log", a.cfg.Index)), cr.logPath); err != nil {
			return fmt.Errorf("link kube-proxy log: %w", err)
		}
		a.markRunning(pr, cr)
		return nil
	case kindNodeCache:
		argv, cleanup, err := a.prepareNodeCache(pr, c, vols)
		if err != nil {
			return err
		}
		pr.mu.Lock()
		pr.cleanups = append(pr.cleanups, cleanup)
		pr.mu.Unlock()
		cr.argv = argv
	default:
		argv, err := a.resolveArgv(c)
		if err != nil {
			pr.mu.Lock()
			cr.waiting, cr.waitingMsg = "ErrImagePull", err.Error()
			pr.mu.Unlock()
			return err
		}
		cr.argv = argv
	}
	cr.env = a.containerEnv(pr, pod, c)
	cr.binds = a.binds(pr, c, vols)
	cr.workdir = c.WorkingDir
	return a.spawn(pr, pod, cr)
}

// unpullable reports whether the lab plays a failed pull for image: a
// registry under the reserved .invalid TLD, or a reference containing
// "does-not-exist".
func unpullable(image string) bool {
	host, _, _ := strings.Cut(image, "/")
	host, _, _ = strings.Cut(host, ":")
	return strings.HasSuffix(host, ".invalid") || strings.Contains(image, "does-not-exist")
}

// failPull reports ErrImagePull, then ImagePullBackOff, with containerd's
// wording, as a kubelet does for an image it cannot pull.
func (a *Agent) failPull(pr *podRun, cr *ctrRun, image string) {
	host, _, _ := strings.Cut(image, "/")
	pr.mu.Lock()
	cr.waiting = "ErrImagePull"
	cr.waitingMsg = fmt.Sprintf(`failed to pull and unpack image "%s": failed to resolve reference "%s": failed to do request: Head "https://%s/v2/": dial tcp: lookup %s: no such host`, image, image, host, host)
	pr.mu.Unlock()
	go func() {
		if !sleepCtx(pr.ctx, 3*time.Second) {
			return
		}
		pr.mu.Lock()
		cr.waiting, cr.waitingMsg = "ImagePullBackOff", fmt.Sprintf("Back-off pulling image %q", image)
		pr.mu.Unlock()
		a.updateStatus(pr)
	}()
}

// resolveArgv maps a container's image, command and args to a binary of the
// lab: netdoctor images run the netdoctor binary, coredns images the pinned
// coredns, and a command naming a host program (sh, sleep, nsenter) runs it.
func (a *Agent) resolveArgv(c corev1.Container) ([]string, error) {
	img := strings.ToLower(c.Image)
	var bin string
	switch {
	case strings.Contains(img, "netdoctor"):
		bin = filepath.Join(a.cfg.BinDir, "netdoctor")
	case strings.Contains(img, "coredns"):
		bin = filepath.Join(a.cfg.BinDir, "coredns")
	}
	cmd := append([]string{}, c.Command...)
	if len(cmd) > 0 {
		base := filepath.Base(cmd[0])
		if bin != "" && (strings.Contains(base, "netdoctor") || strings.Contains(base, "coredns")) {
			cmd[0] = bin
		} else if p, err := exec.LookPath(cmd[0]); err == nil {
			cmd[0] = p
		} else if p, err := exec.LookPath(base); err == nil {
			cmd[0] = p
		} else {
			return nil, fmt.Errorf("command %q: not found in the lab", c.Command[0])
		}
	} else {
		if bin == "" {
			return nil, fmt.Errorf("image %s has no entrypoint in the lab", c.Image)
		}
		cmd = []string{bin}
	}
	if _, err := os.Stat(cmd[0]); err != nil {
		return nil, fmt.Errorf("image %s: binary %s not installed in the lab: %w", c.Image, cmd[0], err)
	}
	return append(cmd, c.Args...), nil
}

func (a *Agent) containerEnv(pr *podRun, pod *corev1.Pod, c corev1.Container) []string {
	env := []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOSTNAME=" + pod.Name,
		"KUBERNETES_SERVICE_HOST=10.0.0.1",
		"KUBERNETES_SERVICE_PORT=443",
		"KUBERNETES_SERVICE_PORT_HTTPS=443",
		"KUBERNETES_PORT=tcp://10.0.0.1:443",
		"NDLAB_LAB_PROCESS=" + a.cfg.RunDir,
	}
	if pod.Spec.HostNetwork {
		env[1] = "HOSTNAME=" + a.cfg.NodeName
	}
	for _, e := range c.Env {
		v := e.Value
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			switch e.ValueFrom.FieldRef.FieldPath {
			case "metadata.name":
				v = pod.Name
			case "metadata.namespace":
				v = pod.Namespace
			case "metadata.uid":
				v = string(pod.UID)
			case "spec.nodeName":
				v = a.cfg.NodeName
			case "spec.serviceAccountName":
				v = pod.Spec.ServiceAccountName
			case "status.podIP":
				v = pr.ip.String()
			case "status.hostIP":
				v = a.cfg.NodeIP.String()
			}
		}
		env = append(env, e.Name+"="+v)
	}
	return env
}

// binds lists src=dst bind mounts for a container: resolv.conf, hosts and
// its volume mounts.
func (a *Agent) binds(pr *podRun, c corev1.Container, vols map[string]string) []string {
	b := []string{
		filepath.Join(pr.dir, "resolv.conf") + "=/etc/resolv.conf",
		filepath.Join(pr.dir, "hosts") + "=/etc/hosts",
	}
	for _, m := range c.VolumeMounts {
		src, ok := vols[m.Name]
		if !ok {
			continue
		}
		if m.SubPath != "" {
			src = filepath.Join(src, m.SubPath)
		}
		if m.MountPath == "/etc/resolv.conf" || m.MountPath == "/etc/hosts" {
			continue
		}
		b = append(b, src+"="+m.MountPath)
	}
	// Parents before children, as the kubelet mounts them.
	sort.SliceStable(b, func(i, j int) bool {
		return strings.Count(b[i][strings.Index(b[i], "=")+1:], "/") < strings.Count(b[j][strings.Index(b[j], "=")+1:], "/")
	})
	return b
}

// spawn starts a container process through `ndlab daemon podinit`, which
// enters the pod's network namespace and a private mount namespace with the
// binds, then execs the container's command. Output goes to the log file.
func (a *Agent) spawn(pr *podRun, pod *corev1.Pod, cr *ctrRun) error {
	for _, b := range cr.binds {
		dst := b[strings.Index(b, "=")+1:]
		src := b[:strings.Index(b, "=")]
		a.ensureMountpoint(src, dst)
	}
	hostname := pod.Name
	if pr.hostNet {
		hostname = a.cfg.NodeName
	}
	args := []string{a.cfg.Ndlab, "daemon", "podinit", "--netns", nsnet.Path(pr.netns), "--hostname", hostname}
	if cr.workdir != "" {
		args = append(args, "--workdir", cr.workdir)
	}
	for _, b := range cr.binds {
		args = append(args, "--bind", b)
	}
	args = append(args, "--")
	args = append(args, cr.argv...)
	logf, err := os.OpenFile(cr.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	cmd := &exec.Cmd{
		Path:   a.cfg.Ndlab,
		Args:   args,
		Env:    cr.env,
		Stdout: logf,
		Stderr: logf,
		SysProcAttr: &syscall.SysProcAttr{
			Setsid:       true,
			Unshareflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS,
			Pdeathsig:    0,
		},
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", cr.argv[0], err)
	}
	logf.Close()
	pr.mu.Lock()
	cr.cmd = cmd
	pr.mu.Unlock()
	a.markRunning(pr, cr)
	go a.waitContainer(pr, pod, cr, cmd)
	return nil
}

func (a *Agent) markRunning(pr *podRun, cr *ctrRun) {
	pr.mu.Lock()
	cr.running, cr.terminated = true, false
	cr.waiting, cr.waitingMsg = "", ""
	cr.startedAt = time.Now()
	cr.id = "containerd://" + randHex(32)
	pr.mu.Unlock()
}

func (a *Agent) waitContainer(pr *podRun, pod *corev1.Pod, cr *ctrRun, cmd *exec.Cmd) {
	err := cmd.Wait()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				code = 128 + int(ws.Signal())
			}
		} else {
			code = 128
		}
	}
	pr.mu.Lock()
	if cr.cmd != cmd {
		pr.mu.Unlock()
		return
	}
	cr.running, cr.ready, cr.terminated = false, false, true
	cr.exitCode, cr.finishedAt = code, time.Now()
	cr.reason = "Completed"
	if code != 0 {
		cr.reason = "Error"
	}
	stopping := pr.deleting || pr.deadlined || pr.stopped
	restart := !stopping && (pod.Spec.RestartPolicy == corev1.RestartPolicyAlways || pod.Spec.RestartPolicy == "" ||
		(pod.Spec.RestartPolicy == corev1.RestartPolicyOnFailure && code != 0))
	if restart {
		cr.last = &corev1.ContainerStateTerminated{ExitCode: int32(code), Reason: cr.reason, ContainerID: cr.id,
			StartedAt: metav1.Time{Time: cr.startedAt}, FinishedAt: metav1.Time{Time: cr.finishedAt}}
		cr.terminated = false
		cr.waiting, cr.waitingMsg = "CrashLoopBackOff", fmt.Sprintf("back-off restarting failed container %s in pod %s_%s", cr.name, pr.name, pr.ns)
	}
	pr.mu.Unlock()
	a.updateStatus(pr)
	if !restart {
		return
	}
	// Back off like the kubelet, but short: the lab's processes exit on purpose.
	backoff := time.Duration(2<<min(cr.restartCount, 4)) * time.Second
	if !sleepCtx(pr.ctx, backoff) {
		return
	}
	pr.mu.Lock()
	if pr.deleting || pr.stopped {
		pr.mu.Unlock()
		return
	}
	cr.restartCount++
	pr.mu.Unlock()
	_ = os.Rename(cr.logPath, cr.logPath+".prev")
	if err := a.spawn(pr, pod, cr); err != nil {
		a.logf("restart %s/%s %s: %v", pr.ns, pr.name, cr.name, err)
	}
	a.updateStatus(pr)
}

// MountpointsFile lists the bind-mount targets node agents created on the
// host. It is shared by every lab on the machine (they use the same targets);
// the last lab to go down removes what it lists.
const MountpointsFile = "/run/ndlab-mountpoints"

// ensureMountpoint makes sure a bind target exists on the host file system,
// recording what it creates in MountpointsFile so `ndlab down` removes it.
func (a *Agent) ensureMountpoint(src, dst string) {
	if _, err := os.Lstat(dst); err == nil {
		return
	}
	st, err := os.Stat(src)
	if err != nil {
		return
	}
	// Record every directory level that does not exist yet.
	var created []string
	for d := filepath.Dir(dst); d != "/" && d != "."; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			break
		}
		created = append(created, d)
	}
	if st.IsDir() {
		created = append([]string{dst}, created...)
		_ = os.MkdirAll(dst, 0o755)
	} else {
		_ = os.MkdirAll(filepath.Dir(dst), 0o755)
		if f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL, 0o644); err == nil {
			f.Close()
			created = append([]string{dst}, created...)
		}
	}
	if len(created) == 0 {
		return
	}
	f, err := os.OpenFile(MountpointsFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = f.WriteString(strings.Join(created, "\n") + "\n")
}

func (a *Agent) enforceDeadline(pr *podRun, d time.Duration) {
	if !sleepCtx(pr.ctx, time.Until(pr.startedAt.Add(d))) {
		return
	}
	pr.mu.Lock()
	if pr.deleting || pr.stopped {
		pr.mu.Unlock()
		return
	}
	pr.deadlined = true
	pr.mu.Unlock()
	a.killContainers(pr, 2*time.Second)
	a.updateStatus(pr)
}

// killContainers stops every process and in-process server of the pod.
func (a *Agent) killContainers(pr *podRun, grace time.Duration) {
	pr.mu.Lock()
	var cmds []*exec.Cmd
	for _, c := range pr.containers {
		if c.cmd != nil && c.running {
			cmds = append(cmds, c.cmd)
		}
	}
	closers := pr.closers
	pr.closers = nil
	pr.mu.Unlock()
	for _, cl := range closers {
		cl.Close()
	}
	for _, cmd := range cmds {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		alive := false
		for _, cmd := range cmds {
			if syscall.Kill(cmd.Process.Pid, 0) == nil && !exited(cmd) {
				alive = true
			}
		}
		if !alive {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, cmd := range cmds {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	pr.mu.Lock()
	for _, c := range pr.containers {
		if c.running {
			c.running, c.ready, c.terminated = false, false, true
			c.finishedAt = time.Now()
			if c.cmd == nil {
				c.exitCode, c.reason = 137, "Error"
				if pr.deadlined {
					c.reason = "DeadlineExceeded"
				}
			}
		}
	}
	pr.mu.Unlock()
}

func exited(cmd *exec.Cmd) bool { return cmd.ProcessState != nil }

func (a *Agent) deletePod(ctx context.Context, pr *podRun, grace time.Duration) {
	if grace > 10*time.Second {
		grace = 10 * time.Second
	}
	a.teardownPod(pr, grace)
	a.finalizeDelete(ctx, pr.ns, pr.name, pr.uid)
}

// finalizeDelete removes the pod object with grace period 0, as the kubelet
// does once the containers are gone.
func (a *Agent) finalizeDelete(ctx context.Context, ns, name string, uid types.UID) {
	err := a.client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0),
		Preconditions:      &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		a.logf("delete pod %s/%s: %v", ns, name, err)
	}
	a.mu.Lock()
	delete(a.pods, string(uid))
	a.mu.Unlock()
}

// teardownPod kills the pod's processes and removes its network namespace.
func (a *Agent) teardownPod(pr *podRun, grace time.Duration) {
	select {
	case <-pr.setupDone:
	case <-time.After(60 * time.Second):
		a.logf("pod %s/%s: setup still running after 60s, tearing down anyway", pr.ns, pr.name)
	}
	pr.mu.Lock()
	if pr.stopped {
		pr.mu.Unlock()
		return
	}
	pr.stopped = true
	pr.mu.Unlock()
	a.killContainers(pr, grace)
	pr.cancel()
	pr.mu.Lock()
	cleanups := pr.cleanups
	pr.cleanups = nil
	pr.mu.Unlock()
	for _, f := range cleanups {
		f()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !pr.hostNet && pr.netns != "" {
		_ = run(ctx, "ip", "route", "del", pr.ip.String()+"/32")
		if err := run(ctx, "ip", "netns", "del", pr.netns); err != nil {
			a.logf("pod %s/%s: %v", pr.ns, pr.name, err)
		}
		_ = run(ctx, "ip", "link", "del", pr.hostVeth)
		a.releaseIP(pr.ip)
	}
	if pr.dir != "" {
		_ = os.RemoveAll(pr.dir)
	}
}

// updateStatus posts the pod's status computed from what runs.
func (a *Agent) updateStatus(pr *podRun) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Retry conflicts and transient errors (a loaded API server): a lost
	// update could leave a finished pod Running for its reader.
	err := retry.OnError(wait.Backoff{Steps: 8, Duration: 100 * time.Millisecond, Factor: 2, Cap: 5 * time.Second}, func(err error) bool {
		return !apierrors.IsNotFound(err) && ctx.Err() == nil
	}, func() error {
		pod, err := a.client.CoreV1().Pods(pr.ns).Get(ctx, pr.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if pod.UID != pr.uid {
			return nil
		}
		pod.Status = a.computeStatus(pr, pod)
		_, err = a.client.CoreV1().Pods(pr.ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
		return err
	})
	if err != nil && !apierrors.IsNotFound(err) {
		a.logf("pod %s/%s status: %v", pr.ns, pr.name, err)
	}
}

func (a *Agent) computeStatus(pr *podRun, pod *corev1.Pod) corev1.PodStatus {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	now := metav1.Now()
	st := corev1.PodStatus{
		HostIP:    a.cfg.NodeIP.String(),
		HostIPs:   []corev1.HostIP{{IP: a.cfg.NodeIP.String()}},
		StartTime: &metav1.Time{Time: pr.startedAt},
		QOSClass:  pod.Status.QOSClass,
	}
	if st.QOSClass == "" {
		st.QOSClass = corev1.PodQOSBestEffort
	}
	if pr.ip.IsValid() {
		st.PodIP = pr.ip.String()
		st.PodIPs = []corev1.PodIP{{IP: pr.ip.String()}}
	}
	allReady, anyRunning, allDone, allZero := true, false, true, true
	for i, c := range pr.containers {
		cs := corev1.ContainerStatus{
			Name: c.name, Image: c.image, ImageID: c.image, ContainerID: c.id,
			RestartCount: c.restartCount, Ready: c.ready, Started: ptr.To(c.running),
		}
		if i < len(pod.Spec.Containers) {
			cs.Image = pod.Spec.Containers[i].Image
		}
		if c.last != nil {
			cs.LastTerminationState.Terminated = c.last
		}
		switch {
		case c.running:
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.Time{Time: c.startedAt}}
			anyRunning = true
			allDone = false
		case c.terminated:
			cs.State.Terminated = &corev1.ContainerStateTerminated{
				ExitCode: int32(c.exitCode), Reason: c.reason, Message: c.message, ContainerID: c.id,
				StartedAt: metav1.Time{Time: c.startedAt}, FinishedAt: metav1.Time{Time: c.finishedAt},
			}
			if c.exitCode != 0 {
				allZero = false
			}
		default:
			reason := c.waiting
			if reason == "" {
				reason = "ContainerCreating"
			}
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason, Message: c.waitingMsg}
			allDone = false
			if c.last != nil {
				anyRunning = true // restarting: the pod stays Running
			}
		}
		if !c.ready {
			allReady = false
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}
	switch {
	case pr.deadlined:
		st.Phase, st.Reason, st.Message = corev1.PodFailed, "DeadlineExceeded", "Pod was active on the node longer than the specified deadline"
	case allDone && len(pr.containers) > 0:
		st.Phase = corev1.PodSucceeded
		if !allZero {
			st.Phase = corev1.PodFailed
		}
	case anyRunning:
		st.Phase = corev1.PodRunning
	default:
		st.Phase = corev1.PodPending
	}
	cond := func(t corev1.PodConditionType, ok bool, reason string) corev1.PodCondition {
		s := corev1.ConditionFalse
		if ok {
			s = corev1.ConditionTrue
		}
		c := corev1.PodCondition{Type: t, Status: s, LastTransitionTime: now, Reason: reason}
		for _, old := range pod.Status.Conditions {
			if old.Type == t && old.Status == s {
				c.LastTransitionTime = old.LastTransitionTime
			}
		}
		return c
	}
	ready := allReady && anyRunning
	readyReason := ""
	if !ready {
		readyReason = "ContainersNotReady"
		if st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed {
			readyReason = "PodCompleted"
		}
	}
	st.Conditions = []corev1.PodCondition{
		cond("PodReadyToStartContainers", pr.ip.IsValid() && !pr.stopped, ""),
		cond(corev1.PodInitialized, true, ""),
		cond(corev1.ContainersReady, ready, readyReason),
		cond(corev1.PodReady, ready, readyReason),
		cond(corev1.PodScheduled, true, ""),
	}
	return st
}
