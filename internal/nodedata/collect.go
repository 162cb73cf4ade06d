package nodedata

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Env is what Collect touches on the node; tests and the lab swap it.
type Env struct {
	// Command runs a program on the node and returns its stdout.
	Command func(ctx context.Context, name string, args ...string) ([]byte, error)
	// Stream runs a program and hands its stdout to fn.
	Stream func(ctx context.Context, fn func(io.Reader) error, name string, args ...string) error
	// ReadFile reads a path as this process sees it: /proc and /proc/sys
	// reflect the network namespace it runs in.
	ReadFile func(path string) ([]byte, error)
	// Open opens a path as this process sees it.
	Open func(path string) (io.ReadCloser, error)
	// Glob lists paths as this process sees them.
	Glob func(pattern string) ([]string, error)
	// ReadHostFile reads a file of the node's own filesystem (e.g.
	// /etc/resolv.conf, the kubelet's config).
	ReadHostFile func(path string) ([]byte, error)
	// ProxyMode asks kube-proxy for its mode (GET 127.0.0.1:10249/proxyMode).
	ProxyMode func(ctx context.Context) (string, error)
	// ProxyMetrics reads kube-proxy's metrics (GET 127.0.0.1:10249/metrics).
	// Nil means not available.
	ProxyMetrics func(ctx context.Context) ([]byte, error)
	// Readlink reads a symbolic link (namespace links under /proc).
	Readlink func(path string) (string, error)
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// HostEnv returns the Env of a node-view pod. The agent's network
// namespace is the node's (hostNetwork). When pid 1 shares that network
// namespace it is the node's init (hostPID), and commands run in pid 1's
// mount namespace (nsenter -t 1 -m) so they use the node's own tools and
// files, falling back to the image's tools when the node lacks one. When
// pid 1 is elsewhere (not hostPID, or a test bed where nodes are network
// namespaces of one machine) everything is read where the agent runs.
func HostEnv() Env {
	enter := sameNS("/proc/self/ns/net", "/proc/1/ns/net") && !sameNS("/proc/self/ns/mnt", "/proc/1/ns/mnt")
	run := func(ctx context.Context, name string, args ...string) ([]byte, error) {
		if enter {
			out, err := runCmd(ctx, "nsenter", append([]string{"-t", "1", "-m", "--", name}, args...)...)
			if err == nil || !isNotFoundExit(err) {
				return out, err
			}
		}
		return runCmd(ctx, name, args...)
	}
	hostFile := func(path string) ([]byte, error) {
		if enter {
			if b, err := os.ReadFile(filepath.Join("/proc/1/root", path)); err == nil {
				return b, nil
			}
		}
		return os.ReadFile(path)
	}
	return Env{
		Command: run,
		Stream: func(ctx context.Context, fn func(io.Reader) error, name string, args ...string) error {
			if enter {
				args = append([]string{"-t", "1", "-m", "--", name}, args...)
				name = "nsenter"
			}
			cmd := exec.CommandContext(ctx, name, args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				return err
			}
			if err := cmd.Start(); err != nil {
				return err
			}
			ferr := fn(out)
			_, _ = io.Copy(io.Discard, out)
			if werr := cmd.Wait(); werr != nil && ferr == nil {
				return fmt.Errorf("%s: %w: %s", name, werr, strings.TrimSpace(stderr.String()))
			}
			return ferr
		},
		ReadFile:     os.ReadFile,
		Open:         func(p string) (io.ReadCloser, error) { return os.Open(p) },
		Glob:         filepath.Glob,
		ReadHostFile: hostFile,
		ProxyMode:    proxyMode,
		ProxyMetrics: proxyMetrics,
		Readlink:     os.Readlink,
		Now:          time.Now,
	}
}

func sameNS(a, b string) bool {
	la, err1 := os.Readlink(a)
	lb, err2 := os.Readlink(b)
	return err1 == nil && err2 == nil && la == lb
}

// runCmd runs a program and returns its stdout; a failure carries stderr.
func runCmd(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg != "" {
			return out, fmt.Errorf("%s: %w: %s", name, err, clip(msg))
		}
		return out, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

func isNotFoundExit(err error) bool {
	var ee *exec.ExitError
	if errors.As(err, &ee) && (ee.ExitCode() == 127 || ee.ExitCode() == 126) {
		return true
	}
	return errors.Is(err, exec.ErrNotFound) || strings.Contains(err.Error(), "No such file")
}

func proxyMode(ctx context.Context) (string, error) {
	b, err := kubeProxyGet(ctx, "/proxyMode", 1024)
	return strings.TrimSpace(string(b)), err
}

func proxyMetrics(ctx context.Context) ([]byte, error) {
	return kubeProxyGet(ctx, "/metrics", 8<<20)
}

// kubeProxyGet reads a path of kube-proxy's metrics server on the node's
// loopback (127.0.0.1:10249), at most limit bytes.
func kubeProxyGet(ctx context.Context, path string, limit int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:10249"+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("kube-proxy %s: HTTP %d", path, resp.StatusCode)
	}
	return b, nil
}

// KubeProxyMetrics keeps kube-proxy's own series (kubeproxy_*, with their
// HELP and TYPE lines) from a /metrics page: the sync timings and counts
// KPX003 reads, without the Go runtime's.
func KubeProxyMetrics(page []byte) []byte {
	var out bytes.Buffer
	for _, line := range bytes.SplitAfter(page, []byte("\n")) {
		l := bytes.TrimPrefix(bytes.TrimPrefix(line, []byte("# HELP ")), []byte("# TYPE "))
		if bytes.HasPrefix(l, []byte("kubeproxy_")) {
			out.Write(line)
		}
	}
	return out.Bytes()
}

// DefaultConntrackInterval is the time between the two conntrack -S
// samples, so that insert_failed and drop can be seen rising.
const DefaultConntrackInterval = 3 * time.Second

// CollectOptions tunes Collect.
type CollectOptions struct {
	// ConntrackInterval separates the two conntrack statistics samples
	// (DefaultConntrackInterval when 0; negative takes one sample).
	ConntrackInterval time.Duration
}

// Meta is agent.json: how the artifacts were collected.
type Meta struct {
	// Started and Finished bound the collection.
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// ConntrackInterval is the time between the two conntrack samples,
	// in seconds (0 when there is one sample).
	ConntrackIntervalSeconds float64 `json:"conntrackIntervalSeconds"`
}

// Collect gathers every node artifact. It keeps going when one fails and
// records why in the FileErrors artifact; the map is artifact name to
// content.
func Collect(ctx context.Context, env Env, opts CollectOptions) map[string][]byte {
	files := map[string][]byte{}
	errs := map[string]string{}
	fail := func(name string, err error) { errs[name] = err.Error() }
	if opts.ConntrackInterval == 0 {
		opts.ConntrackInterval = DefaultConntrackInterval
	}
	now := env.Now
	if now == nil {
		now = time.Now
	}
	meta := Meta{Started: now().UTC()}
	first := conntrackSample(ctx, env)

	cmdFile := func(name string, prog string, args ...string) []byte {
		out, err := env.Command(ctx, prog, args...)
		if err != nil {
			fail(name, err)
			return nil
		}
		files[name] = out
		return out
	}

	ipt := collectIptables(ctx, env, files, fail)
	cmdFile(FileIPRoute, "ip", "route", "show", "table", "all")
	cmdFile(FileIPRule, "ip", "rule", "show")
	addrs := cmdFile(FileIPAddr, "ip", "addr", "show")

	// sysctls, read in this process's (the node's) network namespace
	sys := Sysctls{}
	var missing []string
	names := append([]string(nil), SysctlNames...)
	if paths, err := env.Glob("/proc/sys/net/ipv4/conf/*/rp_filter"); err == nil {
		for _, p := range paths {
			names = append(names, SysctlName(p))
		}
	}
	for _, n := range dedupe(names) {
		b, err := env.ReadFile(SysctlPath(n))
		if err != nil {
			missing = append(missing, n)
			continue
		}
		sys[n] = strings.TrimSpace(string(b))
	}
	if b, err := json.MarshalIndent(sys, "", "  "); err == nil {
		files[FileSysctls] = append(b, '\n')
	}
	if len(missing) > 0 {
		errs[FileSysctls] = "not present (module not loaded or not namespaced): " + strings.Join(missing, ", ")
	}

	// conntrack statistics: conntrack -S, else /proc/net/stat/nf_conntrack;
	// a second sample after the interval shows whether counters rise
	if first.err != nil {
		fail(FileConntrackStats, first.err)
	} else {
		files[first.name] = first.data
		if opts.ConntrackInterval > 0 {
			if wait := opts.ConntrackInterval - now().Sub(first.at); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
				case <-t.C:
				}
				t.Stop()
			}
			if second := conntrackSample(ctx, env); second.err == nil && second.name == first.name {
				files[SecondSample(first.name)] = second.data
				meta.ConntrackIntervalSeconds = second.at.Sub(first.at).Seconds()
			}
		}
	}

	// connection table summary
	if sum, err := collectConnections(ctx, env); err != nil {
		fail(FileConnections, err)
	} else if b, err := json.MarshalIndent(sum, "", "  "); err == nil {
		files[FileConnections] = append(b, '\n')
	}

	if b, err := env.ReadHostFile("/etc/resolv.conf"); err != nil {
		fail(FileResolvConf, err)
	} else {
		files[FileResolvConf] = b
	}

	if k, err := collectKubelet(env); err != nil {
		fail(FileKubelet, err)
	} else if b, err := json.MarshalIndent(k, "", "  "); err == nil {
		files[FileKubelet] = append(b, '\n')
	}

	mode, err := env.ProxyMode(ctx)
	switch {
	case err == nil && mode != "":
		files[FileKubeProxyMode] = []byte(mode + " (kube-proxy /proxyMode)\n")
	case bytes.Contains(addrs, []byte("kube-ipvs0")):
		files[FileKubeProxyMode] = []byte("ipvs (inferred: kube-ipvs0 interface)\n")
	case bytes.Contains(ipt, []byte(":KUBE-SERVICES")):
		files[FileKubeProxyMode] = []byte("iptables (inferred: KUBE-SERVICES chain in iptables-save)\n")
	default:
		fail(FileKubeProxyMode, fmt.Errorf("kube-proxy /proxyMode: %v; no KUBE-SERVICES chain and no kube-ipvs0", err))
	}

	if env.ProxyMetrics != nil {
		if page, err := env.ProxyMetrics(ctx); err != nil {
			fail(FileKubeProxyMetrics, err)
		} else {
			files[FileKubeProxyMetrics] = KubeProxyMetrics(page)
		}
	}

	if out, err := env.Command(ctx, "dmesg"); err != nil {
		fail(FileDmesg, err)
	} else {
		files[FileDmesg] = FilterKernelMessages(out)
	}

	if len(errs) > 0 {
		b, _ := json.MarshalIndent(errs, "", "  ")
		files[FileErrors] = append(b, '\n')
	}
	meta.Finished = now().UTC()
	if b, err := json.MarshalIndent(meta, "", "  "); err == nil {
		files[FileMeta] = append(b, '\n')
	}
	return files
}

type sample struct {
	name string
	data []byte
	at   time.Time
	err  error
}

// conntrackSample reads conntrack -S, else /proc/net/stat/nf_conntrack.
func conntrackSample(ctx context.Context, env Env) sample {
	now := env.Now
	if now == nil {
		now = time.Now
	}
	at := now()
	out, err := env.Command(ctx, "conntrack", "-S")
	if err == nil && len(bytes.TrimSpace(out)) > 0 {
		return sample{name: FileConntrackStats, data: out, at: at}
	}
	b, perr := env.ReadFile("/proc/net/stat/nf_conntrack")
	if perr == nil {
		return sample{name: FileConntrackStatsProc, data: b, at: at}
	}
	return sample{err: fmt.Errorf("conntrack -S: %v; /proc/net/stat/nf_conntrack: %v", err, perr)}
}

// SecondSample is the artifact name of the second conntrack statistics
// sample: conntrack-stats.txt -> conntrack-stats-2.txt.
func SecondSample(name string) string {
	return strings.TrimSuffix(name, ".txt") + "-2.txt"
}

// collectIptables stores iptables-save. When the default backend shows no
// kube-proxy chains but the other (legacy or nft) does, it stores that one,
// since that is where kube-proxy writes.
func collectIptables(ctx context.Context, env Env, files map[string][]byte, fail func(string, error)) []byte {
	out, err := env.Command(ctx, "iptables-save")
	if err == nil && bytes.Contains(out, []byte(":KUBE-")) {
		files[FileIptablesSave] = out
		return out
	}
	for _, alt := range []string{"iptables-legacy-save", "iptables-nft-save"} {
		if o, aerr := env.Command(ctx, alt); aerr == nil && bytes.Contains(o, []byte(":KUBE-")) {
			files[FileIptablesSave] = o
			return o
		}
	}
	if err != nil {
		fail(FileIptablesSave, err)
		return nil
	}
	files[FileIptablesSave] = out
	return out
}

func collectConnections(ctx context.Context, env Env) (ConnectionSummary, error) {
	if f, err := env.Open("/proc/net/nf_conntrack"); err == nil {
		defer f.Close()
		return SummariseConnections("/proc/net/nf_conntrack", f)
	}
	var sum ConnectionSummary
	err := env.Stream(ctx, func(r io.Reader) error {
		var err error
		sum, err = SummariseConnections("conntrack -L", r)
		return err
	}, "conntrack", "-L", "-p", "tcp")
	if err != nil {
		return sum, fmt.Errorf("no /proc/net/nf_conntrack and conntrack -L failed: %w", err)
	}
	return sum, nil
}

// collectKubelet finds the node's kubelet process (one named kubelet in
// the agent's own network namespace, which is the node's) and reads its
// DNS settings.
func collectKubelet(env Env) (Kubelet, error) {
	paths, err := env.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		return Kubelet{}, err
	}
	var self string
	if env.Readlink != nil {
		self, _ = env.Readlink("/proc/self/ns/net")
	}
	others := 0
	for _, p := range paths {
		b, err := env.ReadFile(p)
		if err != nil || len(b) == 0 {
			continue
		}
		argv0, _, _ := bytes.Cut(b, []byte{0})
		if filepath.Base(string(argv0)) != "kubelet" {
			continue
		}
		if self != "" {
			if ns, err := env.Readlink(filepath.Join(filepath.Dir(p), "ns", "net")); err != nil || ns != self {
				others++
				continue
			}
		}
		k := ParseKubeletCmdline(b)
		if k.ConfigPath != "" {
			cfg, err := env.ReadHostFile(k.ConfigPath)
			if err != nil {
				return k, fmt.Errorf("kubelet --config %s: %w", k.ConfigPath, err)
			}
			if k, err = MergeKubeletConfig(k, k.ConfigPath, cfg); err != nil {
				return k, err
			}
		}
		if len(k.ClusterDNS) == 0 {
			return k, fmt.Errorf("kubelet (%s) has no --cluster-dns and no clusterDNS in its config", p)
		}
		return k, nil
	}
	if others > 0 {
		return Kubelet{}, fmt.Errorf("no kubelet in the node's network namespace (%d in others)", others)
	}
	return Kubelet{}, errors.New("no kubelet process visible (the agent needs hostPID)")
}

func dedupe(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
