{{/* Names, labels and derived settings shared by the templates. */}}

{{/* The chart name, or nameOverride. */}}
{{- define "portico.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name of the release's objects: fullnameOverride, else the release name (plus the
chart name unless the release name contains it), at most 63 characters. */}}
{{- define "portico.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The helm.sh/chart label value. */}}
{{- define "portico.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The labels that select the controller's pods (never change them: selectors are immutable). */}}
{{- define "portico.selectorLabels" -}}
app.kubernetes.io/name: {{ include "portico.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end }}

{{/* The standard labels of every object. */}}
{{- define "portico.labels" -}}
helm.sh/chart: {{ include "portico.chart" . }}
app.kubernetes.io/name: {{ include "portico.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: portico
{{- end }}

{{/* The ServiceAccount the pods run as. */}}
{{- define "portico.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "portico.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference: repository:tag, the tag defaulting to the chart's appVersion. */}}
{{- define "portico.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* The namespace of the election Lease. */}}
{{- define "portico.electionNamespace" -}}
{{- .Values.election.namespace | default .Release.Namespace }}
{{- end }}

{{/* NAMESPACE/NAME of the Service whose address goes into Ingress status, or "" for none. */}}
{{- define "portico.publishService" -}}
{{- if and .Values.publishService.enabled (not .Values.publishStatusAddress) }}
{{- if .Values.publishService.pathOverride }}
{{- .Values.publishService.pathOverride }}
{{- else if .Values.service.enabled }}
{{- printf "%s/%s" .Release.Namespace (include "portico.fullname" .) }}
{{- end }}
{{- end }}
{{- end }}

{{/* Whether portico writes Ingress status, "true" or "": with --update-status on and an address
to publish (a Service or fixed addresses). Only then does it run leader election. */}}
{{- define "portico.writesStatus" -}}
{{- if and .Values.updateStatus (or (include "portico.publishService" .) .Values.publishStatusAddress) }}true{{ end }}
{{- end }}

{{/* Whether a PodDisruptionBudget is rendered: "true" or "". Automatic (enabled: null) means a
Deployment with more than one pod; a DaemonSet gets one only when asked for explicitly. */}}
{{- define "portico.pdbEnabled" -}}
{{- $pdb := .Values.podDisruptionBudget }}
{{- if kindIs "bool" $pdb.enabled }}
{{- if $pdb.enabled }}true{{ end }}
{{- else if eq .Values.kind "Deployment" }}
{{- $pods := ternary .Values.autoscaling.minReplicas .Values.replicaCount .Values.autoscaling.enabled | int }}
{{- if gt $pods 1 }}true{{ end }}
{{- end }}
{{- end }}

{{/* terminationGracePeriodSeconds: the value, or preStop sleep + shutdown grace + 10 s. */}}
{{- define "portico.terminationGracePeriodSeconds" -}}
{{- $needed := add (int .Values.lifecycle.preStopSleepSeconds) (int .Values.shutdownGraceSeconds) }}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- add $needed 10 }}
{{- else if le (int .Values.terminationGracePeriodSeconds) $needed }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed lifecycle.preStopSleepSeconds + shutdownGraceSeconds (%d), or the pod is killed before requests in flight finish" (int .Values.terminationGracePeriodSeconds) $needed) }}
{{- else }}
{{- int .Values.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/* Checks that values.schema.json cannot express. */}}
{{- define "portico.validate" -}}
{{- if and .Values.autoscaling.enabled (ne .Values.kind "Deployment") }}
{{- fail "autoscaling.enabled: a HorizontalPodAutoscaler scales a Deployment; it cannot be used with kind: DaemonSet" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (kindIs "invalid" .Values.autoscaling.targetCPUUtilizationPercentage) (kindIs "invalid" .Values.autoscaling.targetMemoryUtilizationPercentage) }}
{{- fail "autoscaling.enabled needs autoscaling.targetCPUUtilizationPercentage or autoscaling.targetMemoryUtilizationPercentage" }}
{{- end }}
{{- if and (include "portico.pdbEnabled" .) (kindIs "invalid" .Values.podDisruptionBudget.minAvailable) (kindIs "invalid" .Values.podDisruptionBudget.maxUnavailable) }}
{{- fail "podDisruptionBudget: set minAvailable or maxUnavailable" }}
{{- end }}
{{- if and .Values.publishService.enabled (not .Values.publishStatusAddress) (not .Values.publishService.pathOverride) (not .Values.service.enabled) }}
{{- fail "publishService.enabled with service.enabled false: set publishService.pathOverride (NAMESPACE/NAME), publishStatusAddress, or publishService.enabled false" }}
{{- end }}
{{- end }}

{{/* The rules on namespaced objects: in the ClusterRole, or in a Role per watched namespace. */}}
{{- define "portico.namespacedRules" -}}
- apiGroups: [""]
  resources: ["services", "secrets"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["discovery.k8s.io"]
  resources: ["endpointslices"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["networking.k8s.io"]
  resources: ["ingresses"]
  verbs: ["get", "list", "watch"]
{{- if include "portico.writesStatus" . }}
- apiGroups: ["networking.k8s.io"]
  resources: ["ingresses/status"]
  verbs: ["update"]
{{- end }}
{{- end }}
