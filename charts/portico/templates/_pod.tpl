{{/* The pod template of the Deployment or DaemonSet. */}}

{{/* Flags after the image's ENTRYPOINT (portico serve --kube). */}}
{{- define "portico.args" -}}
- {{ printf "--ingress-class=%s" .Values.ingressClass | quote }}
- {{ printf "--controller-name=%s" .Values.controllerName | quote }}
{{- range .Values.watchNamespaces }}
- {{ printf "--watch-namespace=%s" . | quote }}
{{- end }}
{{- with include "portico.publishService" . }}
- {{ printf "--publish-service=%s" . | quote }}
{{- end }}
{{- with .Values.publishStatusAddress }}
- {{ printf "--publish-status-address=%s" . | quote }}
{{- end }}
- {{ printf "--update-status=%s" (ternary "on" "off" .Values.updateStatus) | quote }}
- {{ printf "--election-id=%s" .Values.election.id | quote }}
{{- with .Values.election.namespace }}
- {{ printf "--election-namespace=%s" . | quote }}
{{- end }}
- "--http-addr=0.0.0.0:8080"
- "--https-addr=0.0.0.0:8443"
- "--admin-addr=0.0.0.0:9901"
{{- if .Values.workers }}
- {{ printf "--workers=%d" (int .Values.workers) | quote }}
{{- end }}
- {{ printf "--shutdown-grace=%ds" (int .Values.shutdownGraceSeconds) | quote }}
- {{ printf "--access-log=%s" (ternary "on" "off" .Values.accessLog) | quote }}
- {{ printf "--log-level=%s" .Values.logLevel | quote }}
{{- range .Values.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}

{{/* An HTTP probe on the admin port: include "portico.probe" (list PATH SETTINGS). */}}
{{- define "portico.probe" -}}
{{- $path := index . 0 -}}
{{- $settings := index . 1 -}}
httpGet:
  path: {{ $path }}
  port: admin
  scheme: HTTP
{{- if hasKey $settings "initialDelaySeconds" }}
initialDelaySeconds: {{ $settings.initialDelaySeconds }}
{{- end }}
periodSeconds: {{ $settings.periodSeconds }}
timeoutSeconds: {{ $settings.timeoutSeconds }}
successThreshold: 1
failureThreshold: {{ $settings.failureThreshold }}
{{- end }}

{{- define "portico.podTemplate" -}}
metadata:
  labels:
    {{- /* The selector labels win over podLabels, which cannot break the selectors. */}}
    {{- $labels := merge (include "portico.selectorLabels" . | fromYaml) (include "portico.labels" . | fromYaml) (deepCopy .Values.podLabels) }}
    {{- toYaml $labels | nindent 4 }}
  {{- with .Values.podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  serviceAccountName: {{ include "portico.serviceAccountName" . }}
  # portico talks to the API server with the pod's service-account token.
  automountServiceAccountToken: true
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  # Longer than the preStop sleep plus --shutdown-grace, so requests in flight can finish.
  terminationGracePeriodSeconds: {{ include "portico.terminationGracePeriodSeconds" . }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if .Values.topologySpreadConstraints }}
  {{- $selector := include "portico.selectorLabels" . | fromYaml }}
  {{- $constraints := list }}
  {{- range .Values.topologySpreadConstraints }}
  {{- $constraint := deepCopy . }}
  {{- if not (hasKey $constraint "labelSelector") }}
  {{- $_ := set $constraint "labelSelector" (dict "matchLabels" $selector) }}
  {{- end }}
  {{- $constraints = append $constraints $constraint }}
  {{- end }}
  topologySpreadConstraints:
    {{- toYaml $constraints | nindent 4 }}
  {{- end }}
  containers:
    - name: portico
      image: {{ include "portico.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      # The image's ENTRYPOINT is `portico serve --kube`; these are the flags after it.
      args:
        {{- include "portico.args" . | nindent 8 }}
      env:
        # Downward API: the Lease holder's identity and the default election namespace.
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        - name: POD_NAMESPACE
          valueFrom:
            fieldRef:
              fieldPath: metadata.namespace
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      ports:
        - name: http
          containerPort: 8080
          protocol: TCP
          {{- if .Values.hostPorts.enabled }}
          hostPort: {{ .Values.hostPorts.http }}
          {{- end }}
        - name: https
          containerPort: 8443
          protocol: TCP
          {{- if .Values.hostPorts.enabled }}
          hostPort: {{ .Values.hostPorts.https }}
          {{- end }}
        - name: admin
          containerPort: 9901
          protocol: TCP
      {{- if .Values.probes.startup.enabled }}
      startupProbe:
        {{- include "portico.probe" (list "/healthz" .Values.probes.startup) | nindent 8 }}
      {{- end }}
      {{- if .Values.probes.liveness.enabled }}
      livenessProbe:
        {{- include "portico.probe" (list "/healthz" .Values.probes.liveness) | nindent 8 }}
      {{- end }}
      {{- if .Values.probes.readiness.enabled }}
      readinessProbe:
        {{- include "portico.probe" (list "/readyz" .Values.probes.readiness) | nindent 8 }}
      {{- end }}
      {{- if gt (int .Values.lifecycle.preStopSleepSeconds) 0 }}
      lifecycle:
        # Keep serving while endpoints and load balancers drop this pod; SIGTERM comes after.
        # exec rather than the newer preStop.sleep action, which older clusters do not have
        # (the image is debian:bookworm-slim, which has /bin/sleep).
        preStop:
          exec:
            command: ["/bin/sleep", "{{ int .Values.lifecycle.preStopSleepSeconds }}"]
      {{- end }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      {{- with .Values.extraVolumeMounts }}
      volumeMounts:
        {{- toYaml . | nindent 8 }}
      {{- end }}
  {{- with .Values.extraVolumes }}
  volumes:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
