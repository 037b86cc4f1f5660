{{/* Chart name. */}}
{{- define "finextract.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart, unless the release name already contains the chart name. */}}
{{- define "finextract.fullname" -}}
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

{{- define "finextract.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Standard labels; pass (dict "ctx" $ "component" "control"). */}}
{{- define "finextract.labels" -}}
helm.sh/chart: {{ include "finextract.chart" .ctx }}
{{ include "finextract.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: finextract
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- end }}

{{- define "finextract.selectorLabels" -}}
app.kubernetes.io/name: {{ include "finextract.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}

{{/* Selects every silo (control and sampler): the metrics Service and ServiceMonitor. */}}
{{- define "finextract.siloSelectorLabels" -}}
app.kubernetes.io/name: {{ include "finextract.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
finextract.io/silo: "true"
{{- end }}

{{- define "finextract.clusterId" -}}
{{- default (include "finextract.fullname" .) .Values.orleans.clusterId }}
{{- end }}

{{- define "finextract.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The samplers' image: the CUDA build for a GPU pool, while the control plane keeps the CPU image. */}}
{{- define "finextract.samplerImage" -}}
{{- printf "%s:%s" (default .Values.image.repository .Values.sampler.image.repository) (default (default .Chart.AppVersion .Values.image.tag) .Values.sampler.image.tag) }}
{{- end }}

{{- define "finextract.artifactsClaim" -}}
{{- default (printf "%s-artifacts" (include "finextract.fullname" .)) .Values.artifacts.existingClaim }}
{{- end }}

{{- define "finextract.apiKeySecret" -}}
{{- default (printf "%s-api-key" (include "finextract.fullname" .)) .Values.apiKey.existingSecret }}
{{- end }}

{{- define "finextract.hasApiKey" -}}
{{- if or .Values.apiKey.existingSecret .Values.apiKey.value }}true{{ end }}
{{- end }}

{{/* The Redis connection as an env var FINEXTRACT_REDIS (the silos get it as --redis $(FINEXTRACT_REDIS), the CLI reads
     $FINEXTRACT_CLUSTER). A password stays in a Secret. */}}
{{- define "finextract.redisEnv" -}}
{{- if .Values.redis.enabled }}
- name: FINEXTRACT_REDIS
  value: {{ printf "%s-redis:6379" (include "finextract.fullname" .) | quote }}
{{- else if .Values.externalRedis.existingSecret }}
- name: FINEXTRACT_REDIS
  valueFrom:
    secretKeyRef:
      name: {{ .Values.externalRedis.existingSecret }}
      key: {{ .Values.externalRedis.existingSecretKey }}
{{- else }}
- name: FINEXTRACT_REDIS
  valueFrom:
    secretKeyRef:
      name: {{ include "finextract.fullname" . }}-redis
      key: connection
{{- end }}
{{- end }}

{{/* One silo container; pass (dict "ctx" $ "role" "control"|"sampler" "spec" .Values.control|.Values.sampler). */}}
{{- define "finextract.siloContainer" -}}
{{- $ctx := .ctx -}}
{{- $v := $ctx.Values -}}
- name: silo
  image: {{ ternary (include "finextract.samplerImage" $ctx) (include "finextract.image" $ctx) (eq .role "sampler") }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  args:
    - silo
    - --role
    - {{ .role }}
    - --redis
    - $(FINEXTRACT_REDIS)
    # Orleans on Kubernetes: a stable, unique silo name and the pod's own IP, never a Service VIP.
    - --name
    - $(POD_NAME)
    - --advertise
    - $(POD_IP)
    - --silo-port
    - {{ $v.ports.silo | quote }}
    - --gateway-port
    - {{ $v.ports.gateway | quote }}
    - --http-port
    - {{ $v.ports.http | quote }}
    - --cluster-id
    - {{ include "finextract.clusterId" $ctx | quote }}
    - --service-id
    - {{ $v.orleans.serviceId | quote }}
    - --artifacts
    - {{ printf "%s/artifacts" $v.artifacts.mountPath | quote }}
    {{- if eq .role "sampler" }}
    - --sampler-slots
    - {{ $v.sampler.slots | quote }}
    {{- end }}
  env:
    - name: POD_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    - name: POD_IP
      valueFrom:
        fieldRef:
          fieldPath: status.podIP
    - name: POD_NAMESPACE
      valueFrom:
        fieldRef:
          fieldPath: metadata.namespace
    {{- include "finextract.redisEnv" $ctx | trim | nindent 4 }}
    {{- if include "finextract.hasApiKey" $ctx }}
    - name: FINEXTRACT_API_KEY
      valueFrom:
        secretKeyRef:
          name: {{ include "finextract.apiKeySecret" $ctx }}
          key: {{ $v.apiKey.secretKey }}
    {{- end }}
    {{- with $v.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  ports:
    - name: http
      containerPort: {{ $v.ports.http }}
    - name: silo
      containerPort: {{ $v.ports.silo }}
    - name: gateway
      containerPort: {{ $v.ports.gateway }}
  # /healthz answers as soon as the process serves HTTP; /healthz/ready once the silo is an active cluster member.
  startupProbe:
    httpGet:
      path: /healthz
      port: http
    periodSeconds: 5
    failureThreshold: 60
  livenessProbe:
    httpGet:
      path: /healthz
      port: http
    periodSeconds: 10
    timeoutSeconds: 5
    failureThreshold: 6
  readinessProbe:
    httpGet:
      path: /healthz/ready
      port: http
    periodSeconds: 5
    timeoutSeconds: 5
    failureThreshold: 3
  resources:
    {{- $resources := deepCopy .spec.resources }}
    {{- if and (eq .role "sampler") (gt (int $v.sampler.gpu.count) 0) }}
    {{- $limits := merge (dict $v.sampler.gpu.resource (int $v.sampler.gpu.count)) (default dict $resources.limits) }}
    {{- $_ := set $resources "limits" $limits }}
    {{- end }}
    {{- toYaml $resources | nindent 4 }}
  securityContext:
    {{- toYaml $v.securityContext | nindent 4 }}
  volumeMounts:
    - name: data
      mountPath: {{ $v.artifacts.mountPath }}
    - name: tmp
      mountPath: /tmp
{{- end }}

{{/* Pod-level settings shared by both silo Deployments. */}}
{{- define "finextract.siloPodSpec" -}}
{{- $ctx := .ctx -}}
{{- $v := $ctx.Values -}}
# Longer than the silo's 120 s shutdown timeout: a silo leaves the cluster and hands off its grains gracefully.
terminationGracePeriodSeconds: 150
{{- with $v.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml $v.podSecurityContext | nindent 2 }}
containers:
  {{- include "finextract.siloContainer" . | nindent 2 }}
volumes:
  - name: data
    persistentVolumeClaim:
      claimName: {{ include "finextract.artifactsClaim" $ctx }}
  - name: tmp
    emptyDir: {}
{{- with .spec.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .spec.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .spec.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
