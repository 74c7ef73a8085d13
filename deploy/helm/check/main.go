// Command manifest-check validates rendered Kubernetes manifests offline, the way
// the API server's decoding would: every object is decoded strictly into the Go
// types of k8s.io/api (and, for ServiceMonitor, prometheus-operator's), so an
// unknown or misspelt field, a duplicate key or a value of the wrong type fails.
// On top of that it checks what the server would refuse at admission and a schema
// alone does not catch: object names and labels, a Deployment's selector against
// its template, volume mounts without a volume, probes on a port nobody declares,
// invalid environment variable names.
//
// Kinds with no Go types here (the CRDs of KEDA, Strimzi, CloudNativePG) are
// skipped only when named with -skip, and every skip is printed, so a new kind
// never passes unchecked.
//
// Usage: helm template ... | manifest-check -namespace shop -skip keda.sh/ScaledObject,...
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	sigyaml "sigs.k8s.io/yaml"
)

func main() {
	skip := flag.String("skip", "", "comma-separated group/Kind to skip (kinds without Go types here)")
	flag.StringVar(&namespace, "namespace", "default", "the namespace helm install would give objects without one")
	flag.Parse()
	if err := run(os.Stdin, os.Stdout, skipped(*skip)); err != nil {
		fmt.Fprintln(os.Stderr, "manifest-check:", err)
		os.Exit(1)
	}
}

// namespace: what helm install sets on every object that names none.
var namespace string

func skipped(list string) map[string]bool {
	kinds := map[string]bool{}
	for _, kind := range strings.Split(list, ",") {
		if kind = strings.TrimSpace(kind); kind != "" {
			kinds[kind] = true
		}
	}
	return kinds
}

func newScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := scheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := monitoringv1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

func run(in io.Reader, out io.Writer, skip map[string]bool) error {
	s, err := newScheme()
	if err != nil {
		return err
	}
	decoder := serializer.NewCodecFactory(s, serializer.EnableStrict).UniversalDeserializer()
	reader := utilyaml.NewYAMLReader(bufio.NewReader(in))
	failed, checked := 0, 0
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if isEmpty(doc) {
			continue
		}
		name, problems := check(decoder, doc, skip)
		for _, problem := range problems {
			fmt.Fprintf(out, "error %s: %s\n", name, problem)
		}
		if len(problems) > 0 {
			failed++
		} else if skip[kindOf(doc)] {
			fmt.Fprintf(out, "skipped (no schema) %s\n", name)
		} else {
			fmt.Fprintf(out, "ok %s\n", name)
		}
		checked++
	}
	if checked == 0 {
		return errors.New("no manifest on standard input")
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d manifests invalid", failed, checked)
	}
	return nil
}

func isEmpty(doc []byte) bool {
	for _, line := range bytes.Split(doc, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' && string(line) != "---" {
			return false
		}
	}
	return true
}

// kindOf is "group/Kind" ("/Secret" for the core group), "" if unreadable.
func kindOf(doc []byte) string {
	var head metav1.TypeMeta
	if err := sigyaml.Unmarshal(doc, &head); err != nil {
		return ""
	}
	gv, err := schema.ParseGroupVersion(head.APIVersion)
	if err != nil {
		return ""
	}
	return gv.Group + "/" + head.Kind
}

func check(decoder runtime.Decoder, doc []byte, skip map[string]bool) (string, []string) {
	kind := kindOf(doc)
	name := kind + " " + nameOf(doc)
	obj, _, err := decoder.Decode(doc, nil, nil)
	if runtime.IsNotRegisteredError(err) || runtime.IsMissingKind(err) {
		if skip[kind] {
			return name, nil
		}
		return name, []string{"no schema for this kind here, and not named in -skip: " + err.Error()}
	}
	if err != nil {
		return name, []string{err.Error()}
	}
	var problems []string
	for _, e := range validate(obj) {
		problems = append(problems, e.Error())
	}
	return name, problems
}

func nameOf(doc []byte) string {
	var head struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	if err := sigyaml.Unmarshal(doc, &head); err != nil {
		return "?"
	}
	return head.Metadata.Name
}

// validate: what the API server refuses beyond the schema (a part of it).
func validate(obj runtime.Object) field.ErrorList {
	accessor, err := apimeta.Accessor(obj)
	if err != nil {
		return field.ErrorList{field.InternalError(nil, err)}
	}
	if accessor.GetNamespace() == "" {
		accessor.SetNamespace(namespace)
	}
	nameFn := apivalidation.NameIsDNSSubdomain
	if _, ok := obj.(*corev1.Service); ok {
		nameFn = apivalidation.NameIsDNS1035Label
	}
	errs := apivalidation.ValidateObjectMetaAccessor(accessor, true, nameFn, field.NewPath("metadata"))
	switch o := obj.(type) {
	case *appsv1.Deployment:
		spec := field.NewPath("spec")
		errs = append(errs, selectorMatches(o.Spec.Selector, o.Spec.Template.Labels, spec)...)
		errs = append(errs, podSpec(&o.Spec.Template.Spec, spec.Child("template", "spec"))...)
	case *batchv1.Job:
		errs = append(errs, podSpec(&o.Spec.Template.Spec, field.NewPath("spec", "template", "spec"))...)
	case *corev1.Service:
		errs = append(errs, metavalidation.ValidateLabels(o.Spec.Selector, field.NewPath("spec", "selector"))...)
	}
	return errs
}

func selectorMatches(selector *metav1.LabelSelector, podLabels map[string]string, path *field.Path) field.ErrorList {
	errs := metavalidation.ValidateLabelSelector(selector, metavalidation.LabelSelectorValidationOptions{}, path.Child("selector"))
	parsed, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return append(errs, field.Invalid(path.Child("selector"), selector, err.Error()))
	}
	if parsed.Empty() || !parsed.Matches(labels.Set(podLabels)) {
		errs = append(errs, field.Invalid(path.Child("template", "metadata", "labels"), podLabels, "selector does not match template labels"))
	}
	return errs
}

func podSpec(pod *corev1.PodSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	volumes := map[string]bool{}
	for i, v := range pod.Volumes {
		if volumes[v.Name] {
			errs = append(errs, field.Duplicate(path.Child("volumes").Index(i).Child("name"), v.Name))
		}
		volumes[v.Name] = true
	}
	if len(pod.Containers) == 0 {
		errs = append(errs, field.Required(path.Child("containers"), ""))
	}
	for i := range pod.InitContainers {
		errs = append(errs, containerSpec(&pod.InitContainers[i], volumes, path.Child("initContainers").Index(i))...)
	}
	for i := range pod.Containers {
		errs = append(errs, containerSpec(&pod.Containers[i], volumes, path.Child("containers").Index(i))...)
	}
	return errs
}

func containerSpec(c *corev1.Container, volumes map[string]bool, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Label(c.Name) {
		errs = append(errs, field.Invalid(path.Child("name"), c.Name, msg))
	}
	if c.Image == "" {
		errs = append(errs, field.Required(path.Child("image"), ""))
	}
	ports := map[string]bool{}
	for i, p := range c.Ports {
		if p.Name != "" {
			for _, msg := range validation.IsValidPortName(p.Name) {
				errs = append(errs, field.Invalid(path.Child("ports").Index(i).Child("name"), p.Name, msg))
			}
			ports[p.Name] = true
		}
		for _, msg := range validation.IsValidPortNum(int(p.ContainerPort)) {
			errs = append(errs, field.Invalid(path.Child("ports").Index(i).Child("containerPort"), p.ContainerPort, msg))
		}
	}
	for i, e := range c.Env {
		for _, msg := range validation.IsEnvVarName(e.Name) {
			errs = append(errs, field.Invalid(path.Child("env").Index(i).Child("name"), e.Name, msg))
		}
		if ref := e.ValueFrom; ref != nil && ref.SecretKeyRef != nil && (ref.SecretKeyRef.Name == "" || ref.SecretKeyRef.Key == "") {
			errs = append(errs, field.Required(path.Child("env").Index(i).Child("valueFrom", "secretKeyRef"), "name and key"))
		}
	}
	for i, m := range c.VolumeMounts {
		if !volumes[m.Name] {
			errs = append(errs, field.NotFound(path.Child("volumeMounts").Index(i).Child("name"), m.Name))
		}
	}
	probes := map[string]*corev1.Probe{"livenessProbe": c.LivenessProbe, "readinessProbe": c.ReadinessProbe, "startupProbe": c.StartupProbe}
	for kind, probe := range probes {
		if probe == nil || probe.HTTPGet == nil {
			continue
		}
		port := probe.HTTPGet.Port
		if port.StrVal != "" && !ports[port.StrVal] {
			errs = append(errs, field.NotFound(path.Child(kind, "httpGet", "port"), port.StrVal))
		}
	}
	return errs
}
