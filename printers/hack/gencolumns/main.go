package main

import (
	"encoding/json"
	"os"
	"reflect"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kubernetes/pkg/printers"
	printersinternal "k8s.io/kubernetes/pkg/printers/internalversion"
)

type capture struct {
	out []entry
}

type entry struct {
	Type    string                         `json:"type"`
	Columns []metav1.TableColumnDefinition `json:"columns"`
}

func (c *capture) TableHandler(cols []metav1.TableColumnDefinition, fn interface{}) error {
	t := reflect.ValueOf(fn).Type().In(0)
	c.out = append(c.out, entry{Type: t.String(), Columns: cols})
	return nil
}

var _ printers.PrintHandler = &capture{}

func main() {
	c := &capture{}
	printersinternal.AddHandlers(c)
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(c.out)
}
