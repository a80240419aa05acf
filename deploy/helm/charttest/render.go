// Package charttest renders the mcpgate Helm chart (deploy/helm/mcpgate) with Helm's own Go
// packages, as `helm template` does, and decodes every manifest strictly into the Kubernetes
// API types. It is a module of its own so that mcpgate's go.mod does not carry Helm and the
// Kubernetes API.
package charttest

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/cli/values"
	"helm.sh/helm/v4/pkg/getter"
	release "helm.sh/helm/v4/pkg/release/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
)

// ChartDir is the chart, relative to this package.
const ChartDir = "../mcpgate"

// KubeVersion is the Kubernetes version the chart is rendered for: the oldest it supports.
const KubeVersion = "v1.25.0"

// Release is one rendered release: its objects, decoded, and its NOTES.txt.
type Release struct {
	Objects []runtime.Object
	Notes   string
}

// Render renders the chart as `helm template mcpgate ChartDir -n mcpgate -f files... --set sets...`
// and decodes every manifest strictly.
func Render(ch *chart.Chart, files []string, sets []string) (*Release, error) {
	opts := values.Options{ValueFiles: files, Values: sets}
	vals, err := opts.MergeValues(getter.Providers{})
	if err != nil {
		return nil, err
	}
	install := action.NewInstall(&action.Configuration{})
	install.DryRunStrategy = action.DryRunClient
	install.ReleaseName = "mcpgate"
	install.Namespace = "mcpgate"
	install.Replace = true
	// Without a cluster Helm assumes the Kubernetes version its binary was stamped with; a
	// test binary has none (Helm then says v1.20). Render for the oldest version the chart
	// supports (Chart.yaml kubeVersion).
	kv, err := common.ParseKubeVersion(KubeVersion)
	if err != nil {
		return nil, err
	}
	install.KubeVersion = kv
	r, err := install.Run(ch, vals)
	if err != nil {
		return nil, err
	}
	rel, ok := r.(*release.Release)
	if !ok {
		return nil, fmt.Errorf("install returned a %T, not a v1 release", r)
	}
	objs, err := Decode(rel.Manifest)
	if err != nil {
		return nil, err
	}
	notes := ""
	if rel.Info != nil {
		notes = rel.Info.Notes
	}
	return &Release{Objects: objs, Notes: notes}, nil
}

// LoadChart loads the chart directory.
func LoadChart() (*chart.Chart, error) { return loader.Load(ChartDir) }

// ServiceMonitor is the part of the Prometheus Operator's monitoring.coreos.com/v1
// ServiceMonitor that the chart writes. That type is not in k8s.io/api, and the operator's Go
// module would bring a second copy of much of Kubernetes, so this is a small copy of its
// schema: the fields the chart sets, spelled as the CRD spells them, decoded as strictly as
// the built-in kinds. A field the chart adds must be added here too.
type ServiceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              ServiceMonitorSpec `json:"spec"`
}

// ServiceMonitorSpec is spec of a ServiceMonitor (a subset).
type ServiceMonitorSpec struct {
	Selector          metav1.LabelSelector `json:"selector"`
	NamespaceSelector struct {
		Any        bool     `json:"any,omitempty"`
		MatchNames []string `json:"matchNames,omitempty"`
	} `json:"namespaceSelector,omitempty"`
	Endpoints []Endpoint `json:"endpoints"`
}

// Endpoint is one scraped endpoint of a ServiceMonitor (a subset).
type Endpoint struct {
	Port          string `json:"port,omitempty"`
	Path          string `json:"path,omitempty"`
	Scheme        string `json:"scheme,omitempty"`
	Interval      string `json:"interval,omitempty"`
	ScrapeTimeout string `json:"scrapeTimeout,omitempty"`
}

// DeepCopyObject makes ServiceMonitor a runtime.Object (a shallow copy is enough here).
func (s *ServiceMonitor) DeepCopyObject() runtime.Object { c := *s; return &c }

var monitoringV1 = schema.GroupVersion{Group: "monitoring.coreos.com", Version: "v1"}

// decoder decodes YAML strictly: an unknown or duplicated field is an error, as it is for
// kubectl apply --validate=strict. Only the kinds the chart may render are registered, so an
// unexpected kind fails too.
var decoder = func() runtime.Decoder {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, autoscalingv2.AddToScheme, policyv1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	s.AddKnownTypes(monitoringV1, &ServiceMonitor{})
	return json.NewSerializerWithOptions(json.DefaultMetaFactory, s, s, json.SerializerOptions{Yaml: true, Strict: true})
}()

var sourceLine = regexp.MustCompile(`(?m)^# Source: (.*)$`)

// Decode splits a rendered manifest into documents and decodes each strictly.
func Decode(manifest string) ([]runtime.Object, error) {
	var objs []runtime.Object
	var problems []string
	for _, doc := range splitDocs(manifest) {
		src := "?"
		if m := sourceLine.FindStringSubmatch(doc); m != nil {
			src = m[1]
		}
		obj, gvk, err := decoder.Decode([]byte(doc), nil, nil)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", src, err))
			continue
		}
		if gvk.Kind == "" || gvk.Version == "" {
			problems = append(problems, fmt.Sprintf("%s: no apiVersion or kind", src))
			continue
		}
		objs = append(objs, obj)
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return objs, fmt.Errorf("decoding the rendered chart strictly:\n  %s", strings.Join(problems, "\n  "))
	}
	return objs, nil
}

// splitDocs splits on YAML document separators and drops empty documents (a template whose
// condition is false renders only its "# Source" comment).
func splitDocs(manifest string) []string {
	var docs []string
	for _, d := range regexp.MustCompile(`(?m)^---\s*$`).Split(manifest, -1) {
		body := sourceLine.ReplaceAllString(d, "")
		if len(bytes.TrimSpace([]byte(body))) == 0 {
			continue
		}
		docs = append(docs, d)
	}
	return docs
}

// Of returns the objects of type T.
func Of[T runtime.Object](r *Release) []T {
	var out []T
	for _, o := range r.Objects {
		if t, ok := o.(T); ok {
			out = append(out, t)
		}
	}
	return out
}
