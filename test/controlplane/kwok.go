package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// KWOK simulates the kubelets of the Nodes carrying this annotation (the one KWOK's docs use),
// so nodes created by other means are left alone.
const kwokNodeSelector = "kwok.x-k8s.io/node=fake"

// Rules that tests create at runtime (named after a pod) come from the API; the cluster-wide
// defaults below come from DIR/kwok/kwok.yaml. KWOK refuses a kind that is in both.
var kwokCRDs = []string{"Exec", "Logs", "Attach", "PortForward", "ClusterPortForward"}

// kwokConfig is the cluster-wide behaviour of the simulated containers: `kubectl exec` runs the
// command on this host in DIR/kwok/root (as the user running the control plane), and
// `kubectl logs` / `kubectl attach` show DIR/kwok/logs/default.log unless a Logs / Attach
// object named after the pod says otherwise.
func kwokConfig(root, defaultLog string) string {
	return fmt.Sprintf(`apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterExec
metadata:
  name: local
spec:
  execs:
  - local:
      workDir: %[1]q
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: default
spec:
  logs:
  - logsFile: %[2]q
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterAttach
metadata:
  name: default
spec:
  attaches:
  - logsFile: %[2]q
`, root, defaultLog)
}

// startKwok runs KWOK for this cluster and waits until its kubelet-like server answers. The
// port is kept in DIR/kwok/port and reused on restart, since Nodes carry it in
// status.daemonEndpoints.
func startKwok(ctx context.Context, dir, bin, kubeconfig, podCIDR string) (*exec.Cmd, <-chan error, int, error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, nil, 0, fmt.Errorf("kwok program: %w (build it with `make kwok`)", err)
	}
	kwokDir := filepath.Join(dir, "kwok")
	root := filepath.Join(kwokDir, "root")
	logs := filepath.Join(kwokDir, "logs")
	for _, d := range []string{root, logs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, nil, 0, err
		}
	}
	defaultLog := filepath.Join(logs, "default.log")
	if _, err := os.Stat(defaultLog); os.IsNotExist(err) {
		line := fmt.Sprintf("%s stdout F this container is simulated by KWOK; a kwok.x-k8s.io Logs object named after the pod serves a log file of its own\n",
			time.Now().UTC().Format(time.RFC3339Nano))
		if err := os.WriteFile(defaultLog, []byte(line), 0o644); err != nil {
			return nil, nil, 0, err
		}
	}
	configFile := filepath.Join(kwokDir, "kwok.yaml")
	if err := os.WriteFile(configFile, []byte(kwokConfig(root, defaultLog)), 0o644); err != nil {
		return nil, nil, 0, err
	}
	portFile := filepath.Join(kwokDir, "port")
	port := 0
	if data, err := os.ReadFile(portFile); err == nil {
		port, _ = strconv.Atoi(strings.TrimSpace(string(data)))
	}
	logPath := filepath.Join(dir, "kwok.log")
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		if port == 0 || !portFree(port) {
			p, err := freePort()
			if err != nil {
				return nil, nil, 0, err
			}
			port = p
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		cmd, done, err := startChild(logPath, []string{"KWOK_WORKDIR=" + kwokDir}, bin,
			"--lifeline",
			"--kubeconfig="+kubeconfig,
			"--config="+configFile,
			"--enable-crds="+strings.Join(kwokCRDs, ","),
			"--manage-nodes-with-annotation-selector="+kwokNodeSelector,
			"--node-ip=127.0.0.1",
			fmt.Sprintf("--node-port=%d", port),
			// Only on loopback: KWOK's server runs commands for anyone who reaches it.
			"--server-address="+addr,
			"--cidr="+podCIDR,
			"--node-lease-duration-seconds=40",
		)
		if err != nil {
			return nil, nil, 0, err
		}
		if err := waitKwok(ctx, addr, done); err != nil {
			_ = cmd.Process.Kill()
			lastErr = err
			port = 0
			continue
		}
		if err := os.WriteFile(portFile, []byte(strconv.Itoa(port)), 0o644); err != nil {
			_ = cmd.Process.Kill()
			return nil, nil, 0, err
		}
		return cmd, done, port, nil
	}
	return nil, nil, 0, fmt.Errorf("%v; see %s", lastErr, logPath)
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// waitKwok polls KWOK's /healthz (plain HTTP; the same port also serves HTTPS).
func waitKwok(ctx context.Context, addr string, done <-chan error) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			return fmt.Errorf("kwok exited: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		resp, err := client.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("kwok not serving on %s after 90s", addr)
}
