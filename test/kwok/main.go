// Command kwok is KWOK's controller (sigs.k8s.io/kwok v0.8.0, cmd/kwok, unmodified) for the
// local child control planes, with three additions that kwokctl would otherwise provide:
//
//   - KWOK's own default stages (node-initialize, node-heartbeat-with-lease or node-heartbeat,
//     pod-ready, pod-complete, pod-delete, embedded in the kwok module) are passed as an extra
//     --config, so nodes turn Ready and pods Running/Ready without any Stage document;
//   - the CRDs of the kinds named by --enable-crds (also embedded in the module) are installed and
//     Established before KWOK starts, so rules created by tests take effect;
//   - --lifeline: exit when stdin closes, so KWOK dies with the process that started it.
//
// Every other flag is KWOK's own (`--flag=value` form).
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"sigs.k8s.io/kwok/kustomize/crd"
	nodefast "sigs.k8s.io/kwok/kustomize/stage/node/fast"
	"sigs.k8s.io/kwok/kustomize/stage/node/heartbeat"
	heartbeatwithlease "sigs.k8s.io/kwok/kustomize/stage/node/heartbeat-with-lease"
	podfast "sigs.k8s.io/kwok/kustomize/stage/pod/fast"
	"sigs.k8s.io/kwok/pkg/config"
	"sigs.k8s.io/kwok/pkg/kwok/cmd"
	"sigs.k8s.io/kwok/pkg/log"
	"sigs.k8s.io/kwok/pkg/utils/signals"
)

var crds = map[string][]byte{
	"Stage":                crd.Stage,
	"Attach":               crd.Attach,
	"ClusterAttach":        crd.ClusterAttach,
	"Exec":                 crd.Exec,
	"ClusterExec":          crd.ClusterExec,
	"PortForward":          crd.PortForward,
	"ClusterPortForward":   crd.ClusterPortForward,
	"Logs":                 crd.Logs,
	"ClusterLogs":          crd.ClusterLogs,
	"ResourceUsage":        crd.ResourceUsage,
	"ClusterResourceUsage": crd.ClusterResourceUsage,
	"Metric":               crd.Metric,
}

func main() {
	if err := prepare(); err != nil {
		fmt.Fprintf(os.Stderr, "kwok: %v\n", err)
		os.Exit(1)
	}
	// From here on: cmd/kwok/main.go of sigs.k8s.io/kwok v0.8.0.
	flagset := pflag.NewFlagSet("global", pflag.ContinueOnError)
	flagset.ParseErrorsAllowlist.UnknownFlags = true
	flagset.Usage = func() {}

	ctx := signals.SetupSignalContext()
	ctx, logger := log.InitFlags(ctx, flagset)

	ctx, err := config.InitFlags(ctx, flagset)
	if err != nil {
		_, _ = os.Stderr.Write([]byte(flagset.FlagUsages()))
		logger.Error("Init config flags", "err", err)
		os.Exit(1)
	}

	command := cmd.NewCommand(ctx)
	command.PersistentFlags().AddFlagSet(flagset)
	err = command.ExecuteContext(ctx)
	if err != nil {
		logger.Error("Execute exit", "err", err)
		os.Exit(1)
	}
}

// prepare handles the additions and rewrites os.Args for KWOK (which parses os.Args itself).
func prepare() error {
	fs := pflag.NewFlagSet("wrapper", pflag.ContinueOnError)
	fs.ParseErrorsAllowlist.UnknownFlags = true
	fs.Usage = func() {}
	kubeconfig := fs.String("kubeconfig", "", "")
	enableCRDs := fs.StringSlice("enable-crds", nil, "")
	leaseSeconds := fs.Uint("node-lease-duration-seconds", 0, "")
	lifeline := fs.Bool("lifeline", false, "")
	if err := fs.Parse(os.Args[1:]); err != nil && !errors.Is(err, pflag.ErrHelp) {
		return err
	}
	args := []string{os.Args[0]}
	for _, a := range os.Args[1:] {
		if a != "--lifeline" && !strings.HasPrefix(a, "--lifeline=") {
			args = append(args, a)
		}
	}
	if *lifeline {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			os.Exit(0)
		}()
	}

	// The default stages, as kwokctl pairs them: a lease-based heartbeat when leases are on.
	nodeHeartbeat := heartbeat.DefaultNodeHeartbeat
	if *leaseSeconds > 0 {
		nodeHeartbeat = heartbeatwithlease.DefaultNodeHeartbeatWithLease
	}
	stages := strings.Join([]string{
		nodefast.DefaultNodeInit, nodeHeartbeat,
		podfast.DefaultPodReady, podfast.DefaultPodComplete, podfast.DefaultPodDelete,
	}, "\n---\n")
	dir := os.Getenv("KWOK_WORKDIR")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "kwok-"); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	stagesFile := filepath.Join(dir, "default-stages.yaml")
	if err := os.WriteFile(stagesFile, []byte(stages), 0o644); err != nil {
		return err
	}
	args = append(args, "--config="+stagesFile)
	os.Args = args

	if len(*enableCRDs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return installCRDs(ctx, *kubeconfig, *enableCRDs)
}

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// installCRDs creates (or updates) the CRDs of `kinds` and waits until they are Established.
func installCRDs(ctx context.Context, kubeconfig string, kinds []string) error {
	restConfig, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	client, err := dynamic.NewForConfig(restConfig)
	if err != nil {
		return err
	}
	api := client.Resource(crdResource)
	var names []string
	for _, kind := range kinds {
		definition, ok := crds[kind]
		if !ok {
			return fmt.Errorf("no CRD for kind %q in --enable-crds", kind)
		}
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(bytes.TrimSpace(definition), &obj.Object); err != nil {
			return fmt.Errorf("CRD of %s: %w", kind, err)
		}
		names = append(names, obj.GetName())
		_, err := api.Create(ctx, obj, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			current, getErr := api.Get(ctx, obj.GetName(), metav1.GetOptions{})
			if getErr != nil {
				return getErr
			}
			obj.SetResourceVersion(current.GetResourceVersion())
			_, err = api.Update(ctx, obj, metav1.UpdateOptions{})
		}
		if err != nil {
			return fmt.Errorf("installing CRD %s: %w", obj.GetName(), err)
		}
	}
	for _, name := range names {
		for {
			obj, err := api.Get(ctx, name, metav1.GetOptions{})
			if err == nil && established(obj) {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("CRD %s not Established: %v", name, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

func established(obj *unstructured.Unstructured) bool {
	conditions, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conditions {
		m, ok := c.(map[string]any)
		if ok && m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}
