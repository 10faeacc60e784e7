// Command controlplane runs a real, local Kubernetes control plane for Clusternet's tests, demos
// and benchmarks: embedded etcd + kube-apiserver (aggregation layer, bootstrap tokens,
// service-account issuer, RBAC + Node authorization) in this process, and the
// kube-controller-manager controllers we need (namespace deletion, garbage collection,
// service-account tokens, ...) in a child process of this same binary, so its log is its own.
//
// The same binary is kubectl when invoked as `kubectl` (a symlink) or as `controlplane kubectl`,
// so tests and `make up` use a kubectl built from exactly the same Kubernetes modules.
//
// With --kwok, the cluster also runs workloads: kube-scheduler (this binary again) and KWOK (the
// program built from test/kwok), which simulates the kubelets of the Nodes annotated
// `kwok.x-k8s.io/node: fake` — they turn Ready, pods scheduled onto them get IPs from
// --pod-cidr and turn Running and Ready, and `kubectl exec/logs/attach/port-forward` reach KWOK's
// kubelet-like server (on 127.0.0.1 only: it has no authentication), configured in DIR/kwok.
//
// Usage:
//
//	controlplane run --dir DIR [--lifeline] [--kwok PATH --pod-cidr CIDR]
//
// It writes DIR/kubeconfig (cluster admin) and DIR/pki/*, and once /readyz answers 200 (and KWOK
// serves, with --kwok) it writes DIR/ready.json and prints one line `ready <apiserver-url>` on
// stdout. All ports come from the OS. With --lifeline it exits when its stdin closes, so a test
// harness that dies takes it along.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"go.etcd.io/etcd/server/v3/embed"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/rest"
	"k8s.io/component-base/cli"
	basecompatibility "k8s.io/component-base/compatibility"
	"k8s.io/component-base/featuregate"
	logsapi "k8s.io/component-base/logs/api/v1"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserverapp "k8s.io/kubernetes/cmd/kube-apiserver/app"
	apiserveroptions "k8s.io/kubernetes/cmd/kube-apiserver/app/options"
	kcmapp "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	schedulerapp "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

// The controllers the tests rely on; everything that needs a kubelet stays off.
var kcmControllers = []string{
	"namespace-controller",
	"garbage-collector-controller",
	"serviceaccount-token-controller",
	"serviceaccount-controller",
	"root-ca-certificate-publisher-controller",
	"clusterrole-aggregation-controller",
	"bootstrap-signer-controller",
	"token-cleaner-controller",
	"deployment-controller",
	"replicaset-controller",
	"endpointslice-controller",
}

func main() {
	if filepath.Base(os.Args[0]) == "kubectl" {
		runKubectl(os.Args[1:])
		return
	}
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: controlplane run --dir DIR [--lifeline] | controlplane kubectl ARGS...")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "run":
		if err := runControlPlane(os.Args[2:]); err != nil {
			fmt.Fprintf(os.Stderr, "controlplane: %v\n", err)
			os.Exit(1)
		}
	case "kubectl":
		runKubectl(os.Args[2:])
	case "kube-controller-manager":
		runControllerManager(os.Args[2:])
	case "kube-scheduler":
		runScheduler(os.Args[2:])
	default:
		fmt.Fprintf(os.Stderr, "controlplane: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
}

func runKubectl(args []string) {
	os.Args = append([]string{"kubectl"}, args...)
	command := kubectlcmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		kubectlutil.CheckErr(err)
	}
}

func runControllerManager(args []string) {
	// The parent keeps our stdin open; when it goes away, so do we.
	go exitOnStdinEOF()
	command := kcmapp.NewControllerManagerCommand()
	command.SetArgs(args)
	os.Exit(cli.Run(command))
}

func runScheduler(args []string) {
	go exitOnStdinEOF()
	command := schedulerapp.NewSchedulerCommand()
	command.SetArgs(args)
	os.Exit(cli.Run(command))
}

func exitOnStdinEOF() {
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

type readyInfo struct {
	Name       string `json:"name"`
	Server     string `json:"server"`
	Etcd       string `json:"etcd"`
	Kubeconfig string `json:"kubeconfig"`
	Pid        int    `json:"pid"`
	// KwokPort is the port of KWOK's kubelet-like server on 127.0.0.1 (with --kwok).
	KwokPort int `json:"kwokPort,omitempty"`
}

func runControlPlane(args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	dir := fs.String("dir", "", "data directory (pki, etcd data, kubeconfig, logs)")
	name := fs.String("name", "", "cluster name used in the kubeconfig (default: base name of --dir)")
	lifeline := fs.Bool("lifeline", false, "exit when stdin is closed")
	verbosity := fs.Int("v", 1, "log verbosity of kube-apiserver and kube-controller-manager")
	kwokBin := fs.String("kwok", "", "path of the kwok program: also run kube-scheduler and KWOK (simulated nodes)")
	podCIDR := fs.String("pod-cidr", "10.0.0.0/16", "with --kwok: where pod IPs come from")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return fmt.Errorf("--dir is required")
	}
	absDir, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	if *name == "" {
		*name = filepath.Base(absDir)
	}
	if err := os.MkdirAll(absDir, 0o755); err != nil {
		return err
	}
	// Everything the control plane logs (klog, etcd's zap, panics) goes to one file per process.
	logFile, err := os.OpenFile(filepath.Join(absDir, "kube-apiserver.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if err := syscall.Dup3(int(logFile.Fd()), 2, 0); err != nil {
		return fmt.Errorf("redirect stderr: %w", err)
	}
	_ = os.Remove(filepath.Join(absDir, "ready.json"))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	stdinClosed := make(chan struct{})
	if *lifeline {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			close(stdinClosed)
		}()
	}

	p := pki{dir: filepath.Join(absDir, "pki")}
	if !p.exists() {
		if err := p.generate(); err != nil {
			return fmt.Errorf("generate pki: %w", err)
		}
	}

	var etcd *embed.Etcd
	// etcd dials its own client URL (gRPC gateway), so it needs a concrete port: take one the OS
	// hands out, and try again in the unlikely case another process grabs it in between.
	for attempt := 0; ; attempt++ {
		etcd, err = startEtcd(filepath.Join(absDir, "etcd"))
		if err == nil {
			break
		}
		if attempt == 4 || !strings.Contains(err.Error(), "address already in use") {
			return fmt.Errorf("start etcd: %w", err)
		}
	}
	// Stopping is quick on purpose (tests start and stop many of these): the controller
	// manager is killed, etcd gets two seconds to close its store, and the process exits
	// without draining the apiserver.
	defer stopEtcd(etcd)
	etcdURL := "http://" + etcd.Clients[0].Addr().String()

	ln, err := listenStable(absDir)
	if err != nil {
		return err
	}
	server := "https://" + ln.Addr().String()
	kubeconfig := filepath.Join(absDir, "kubeconfig")
	if err := writeKubeconfig(kubeconfig, *name, server, p); err != nil {
		return err
	}

	apiErr := make(chan error, 1)
	go func() { apiErr <- runAPIServer(ctx, ln, etcdURL, p, *verbosity) }()

	if err := waitReady(ctx, server, p, apiErr); err != nil {
		return err
	}

	kcm, kcmDone, err := startControllerManager(absDir, kubeconfig, p, *verbosity)
	if err != nil {
		return fmt.Errorf("start kube-controller-manager: %w", err)
	}
	defer func() { _ = kcm.Process.Kill() }()

	info := readyInfo{Name: *name, Server: server, Etcd: etcdURL, Kubeconfig: kubeconfig, Pid: os.Getpid()}
	var schedulerDone, kwokDone <-chan error
	if *kwokBin != "" {
		scheduler, done, err := startScheduler(absDir, kubeconfig, *verbosity)
		if err != nil {
			return fmt.Errorf("start kube-scheduler: %w", err)
		}
		defer func() { _ = scheduler.Process.Kill() }()
		schedulerDone = done
		kwok, done, port, err := startKwok(ctx, absDir, *kwokBin, kubeconfig, *podCIDR)
		if err != nil {
			return fmt.Errorf("start kwok: %w", err)
		}
		defer func() { _ = kwok.Process.Kill() }()
		kwokDone = done
		info.KwokPort = port
	}
	data, _ := json.MarshalIndent(info, "", "  ")
	if err := os.WriteFile(filepath.Join(absDir, "ready.json"), data, 0o644); err != nil {
		return err
	}
	fmt.Printf("ready %s\n", server)

	select {
	case <-sigs:
		return nil
	case <-stdinClosed:
		return nil
	case err := <-apiErr:
		return fmt.Errorf("kube-apiserver stopped: %v", err)
	case err := <-etcd.Err():
		return fmt.Errorf("etcd stopped: %v", err)
	case err := <-kcmDone:
		return fmt.Errorf("kube-controller-manager stopped: %v", err)
	case err := <-schedulerDone:
		return fmt.Errorf("kube-scheduler stopped: %v", err)
	case err := <-kwokDone:
		return fmt.Errorf("kwok stopped: %v", err)
	}
}

func startEtcd(dataDir string) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Dir = dataDir
	cfg.Name = "controlplane"
	// The peer listener takes port 0: its advertised URL is never dialed in a one-member
	// cluster, it only has to be consistent with the initial cluster.
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	lc, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", port))
	lp, _ := url.Parse("http://127.0.0.1:0")
	ap, _ := url.Parse("http://127.0.0.1:2380")
	ac := lc
	cfg.ListenClientUrls = []url.URL{*lc}
	cfg.ListenPeerUrls = []url.URL{*lp}
	cfg.AdvertisePeerUrls = []url.URL{*ap}
	cfg.AdvertiseClientUrls = []url.URL{*ac}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ListenMetricsUrls = nil
	// A throwaway test store: durability across a power cut is not worth fsync latency here.
	cfg.UnsafeNoFsync = true
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{"stderr"}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, fmt.Errorf("etcd not ready after 60s")
	}
}

func stopEtcd(e *embed.Etcd) {
	done := make(chan struct{})
	go func() {
		e.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
}

// listenStable listens on the port this control plane used before (DIR/apiserver.port), so a
// restart keeps its URL and every kubeconfig pointing at it; the first start takes a port
// from the OS and records it. If the old port stays taken (by another program, long after),
// a new one is taken and recorded: the URL in ready.json then tells callers.
func listenStable(dir string) (net.Listener, error) {
	file := filepath.Join(dir, "apiserver.port")
	if data, err := os.ReadFile(file); err == nil {
		addr := "127.0.0.1:" + strings.TrimSpace(string(data))
		var lastErr error
		// The old process may still be closing its socket.
		for attempt := 0; attempt < 40; attempt++ {
			ln, err := net.Listen("tcp", addr)
			if err == nil {
				return ln, nil
			}
			lastErr = err
			time.Sleep(250 * time.Millisecond)
		}
		fmt.Fprintf(os.Stderr, "controlplane: the previous address %s stays taken (%v); taking a new port\n", addr, lastErr)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := os.WriteFile(file, []byte(fmt.Sprintf("%d\n", port)), 0o644); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func runAPIServer(ctx context.Context, ln net.Listener, etcdURL string, p pki, verbosity int) error {
	port := ln.Addr().(*net.TCPAddr).Port
	args := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port),
		"--tls-cert-file=" + p.path("apiserver.crt"),
		"--tls-private-key-file=" + p.path("apiserver.key"),
		"--client-ca-file=" + p.path("ca.crt"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + p.path("sa.pub"),
		"--service-account-signing-key-file=" + p.path("sa.key"),
		"--service-cluster-ip-range=10.96.0.0/16",
		"--authorization-mode=Node,RBAC",
		"--enable-bootstrap-token-auth=true",
		"--allow-privileged=true",
		// The aggregation layer: the aggregator authenticates to extension apiservers with the
		// proxy client cert, and they trust X-Remote-* only from certs of the front-proxy CA.
		"--requestheader-client-ca-file=" + p.path("front-proxy-ca.crt"),
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--requestheader-uid-headers=X-Remote-Uid",
		"--proxy-client-cert-file=" + p.path("front-proxy-client.crt"),
		"--proxy-client-key-file=" + p.path("front-proxy-client.key"),
		// The "kubernetes" Service would get a loopback endpoint, which Endpoints validation
		// rejects; nothing here routes through it.
		"--endpoint-reconciler-type=none",
		"--profiling=false",
		"--shutdown-delay-duration=0s",
		// KWOK's nodes have an InternalIP (127.0.0.1) and no resolvable hostname.
		"--kubelet-preferred-address-types=InternalIP",
		fmt.Sprintf("--v=%d", verbosity),
	}
	s := apiserveroptions.NewServerRunOptions()
	featureGate := s.GenericServerRunOptions.ComponentGlobalsRegistry.FeatureGateFor(basecompatibility.DefaultKubeComponent)
	namedFlagSets := s.Flags()
	fs := pflag.NewFlagSet("kube-apiserver", pflag.ContinueOnError)
	for _, f := range namedFlagSets.FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := s.GenericServerRunOptions.ComponentGlobalsRegistry.Set(); err != nil {
		return err
	}
	rest.SetDefaultWarningHandler(rest.NoWarnings{})
	if err := logsapi.ValidateAndApply(s.Logs, featureGate); err != nil {
		return err
	}
	// Serve on the listener the OS gave us rather than re-binding a port number.
	s.SecureServing.Listener = ln
	completed, err := s.Complete(ctx)
	if err != nil {
		return err
	}
	if errs := completed.Validate(); len(errs) != 0 {
		return utilerrors.NewAggregate(errs)
	}
	featureGate.(featuregate.MutableFeatureGate).AddMetrics()
	return apiserverapp.Run(ctx, completed)
}

func adminTLS(p pki) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(p.path("admin.crt"), p.path("admin.key"))
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(p.path("ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool}, nil
}

// waitReady polls /readyz as the admin until it answers 200.
func waitReady(ctx context.Context, server string, p pki, apiErr <-chan error) error {
	tlsConfig, err := adminTLS(p)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	deadline := time.Now().Add(3 * time.Minute)
	var last string
	for time.Now().Before(deadline) {
		select {
		case err := <-apiErr:
			return fmt.Errorf("kube-apiserver exited before ready: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		resp, err := client.Get(server + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("kube-apiserver not ready after 3m: %s", last)
}

// startControllerManager runs this binary as kube-controller-manager.
func startControllerManager(dir, kubeconfig string, p pki, verbosity int) (*exec.Cmd, <-chan error, error) {
	return startSelf(dir, "kube-controller-manager",
		"--kubeconfig="+kubeconfig,
		"--secure-port=0",
		"--leader-elect=false",
		"--controllers="+strings.Join(kcmControllers, ","),
		"--service-account-private-key-file="+p.path("sa.key"),
		"--root-ca-file="+p.path("ca.crt"),
		"--use-service-account-credentials=false",
		"--cluster-name=controlplane",
		fmt.Sprintf("--v=%d", verbosity),
	)
}

// startScheduler runs this binary as kube-scheduler (no serving port, so no delegated authn).
func startScheduler(dir, kubeconfig string, verbosity int) (*exec.Cmd, <-chan error, error) {
	return startSelf(dir, "kube-scheduler",
		"--kubeconfig="+kubeconfig,
		"--secure-port=0",
		"--leader-elect=false",
		fmt.Sprintf("--v=%d", verbosity),
	)
}

// startSelf runs `<this binary> <component> args...`, logging to DIR/<component>.log.
func startSelf(dir, component string, args ...string) (*exec.Cmd, <-chan error, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	return startChild(filepath.Join(dir, component+".log"), nil, self, append([]string{component}, args...)...)
}

// startChild runs `program args...` with its output appended to logPath. Its stdin is a pipe we
// keep open: when this process dies for any reason, the pipe closes and the child exits.
func startChild(logPath string, env []string, program string, args ...string) (*exec.Cmd, <-chan error, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(program, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	// The write end stays open (referenced by cmd) for as long as this process lives.
	if _, err := cmd.StdinPipe(); err != nil {
		return nil, nil, err
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// Pdeathsig belongs to the OS thread that forks; this goroutine stays locked to its thread
	// until the child exits, so the signal fires only when this process itself dies.
	started := make(chan error, 1)
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		done <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		return nil, nil, err
	}
	return cmd, done, nil
}

func writeKubeconfig(path, name, server string, p pki) error {
	content := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: %[1]s
  cluster:
    server: %[2]s
    certificate-authority: %[3]s
users:
- name: %[1]s-admin
  user:
    client-certificate: %[4]s
    client-key: %[5]s
contexts:
- name: %[1]s
  context:
    cluster: %[1]s
    user: %[1]s-admin
current-context: %[1]s
`, name, server, p.path("ca.crt"), p.path("admin.crt"), p.path("admin.key"))
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
