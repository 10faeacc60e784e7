// Command goprinters runs Kubernetes' own printers (k8s.io/kubernetes/pkg/printers/internalversion)
// over JSON objects, as kube-apiserver does after decoding them: it reads a JSON array of
// {"name", "object"} cases on stdin, decodes each object (any served version) to the internal
// version with defaulting, generates the wide Table row, and writes the cases back with
// "cells", "conditions", the wall-clock window ("before", "after") the row was computed in, and
// "served": the decoded object converted back to its version, i.e. the defaulted object a server
// would have stored and returned (the Rust printers are fed this one).
// It is the oracle for kinds the test control plane does not serve (alpha APIs) and for edge
// cases a real server will not store.
package main

import (
	"encoding/json"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"k8s.io/kubernetes/pkg/api/legacyscheme"
	"k8s.io/kubernetes/pkg/printers"
	printersinternal "k8s.io/kubernetes/pkg/printers/internalversion"

	_ "k8s.io/kubernetes/pkg/apis/admissionregistration/install"
	_ "k8s.io/kubernetes/pkg/apis/apiserverinternal/install"
	_ "k8s.io/kubernetes/pkg/apis/flowcontrol/install"
	_ "k8s.io/kubernetes/pkg/apis/networking/install"
	_ "k8s.io/kubernetes/pkg/apis/node/install"
	_ "k8s.io/kubernetes/pkg/apis/storagemigration/install"
)

type testCase struct {
	Name       string          `json:"name"`
	Object     json.RawMessage `json:"object"`
	Served     interface{}     `json:"served,omitempty"`
	Cells      []interface{}   `json:"cells,omitempty"`
	Conditions interface{}     `json:"conditions,omitempty"`
	Error      string          `json:"error,omitempty"`
	Before     string          `json:"before,omitempty"`
	After      string          `json:"after,omitempty"`
}

func main() {
	var cases []testCase
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		panic(err)
	}
	gen := printers.NewTableGenerator().With(printersinternal.AddHandlers)
	decoder := legacyscheme.Codecs.UniversalDecoder()
	for i := range cases {
		c := &cases[i]
		obj, _, err := decoder.Decode(c.Object, nil, nil)
		if err != nil {
			c.Error = err.Error()
			continue
		}
		var meta struct {
			APIVersion string `json:"apiVersion"`
		}
		_ = json.Unmarshal(c.Object, &meta)
		gv, err := schema.ParseGroupVersion(meta.APIVersion)
		if err != nil {
			c.Error = err.Error()
			continue
		}
		served, err := legacyscheme.Scheme.ConvertToVersion(obj.DeepCopyObject(), gv)
		if err != nil {
			c.Error = err.Error()
			continue
		}
		c.Served = served
		before := time.Now()
		table, err := gen.GenerateTable(obj, printers.GenerateOptions{Wide: true})
		after := time.Now()
		if err != nil {
			c.Error = err.Error()
			continue
		}
		c.Before, c.After = before.UTC().Format(time.RFC3339Nano), after.UTC().Format(time.RFC3339Nano)
		c.Cells = table.Rows[0].Cells
		if len(table.Rows[0].Conditions) > 0 {
			c.Conditions = table.Rows[0].Conditions
		}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(cases); err != nil {
		panic(err)
	}
}
