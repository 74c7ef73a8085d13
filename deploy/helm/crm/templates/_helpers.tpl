{{/* Names ------------------------------------------------------------------ */}}
{{- define "crm.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "crm.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: crm
{{- end -}}

{{/* Selector labels of one workload: (dict "root" $ "name" "profile") */}}
{{- define "crm.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "crm.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "crm.fullname" .)) -}}
{{- end -}}

{{- define "crm.kafkaCluster" -}}
{{- .Values.strimzi.clusterName | default (printf "%s-kafka" (include "crm.fullname" .)) -}}
{{- end -}}

{{- define "crm.pgCluster" -}}
{{- .Values.cnpg.clusterName | default (printf "%s-postgres" (include "crm.fullname" .)) -}}
{{- end -}}

{{- define "crm.bootstrapServers" -}}
{{- if .Values.strimzi.enabled -}}
{{- printf "%s-kafka-bootstrap:9092" (include "crm.kafkaCluster" .) -}}
{{- else -}}
{{- required "kafka.bootstrapServers is required (or strimzi.enabled)" .Values.kafka.bootstrapServers -}}
{{- end -}}
{{- end -}}

{{/* Where cart platforms reach ingest: the console shows webhook URLs under it. */}}
{{- define "crm.publicIngestUrl" -}}
{{- if .Values.dashboard.publicIngestUrl -}}
{{- .Values.dashboard.publicIngestUrl -}}
{{- else if and .Values.ingress.enabled .Values.ingress.ingest.host -}}
{{- printf "https://%s" .Values.ingress.ingest.host -}}
{{- end -}}
{{- end -}}

{{- define "crm.image" -}}
{{- printf "%s-%s:%s" .root.Values.image.repository .service (.root.Values.image.tag | default .root.Chart.AppVersion) -}}
{{- end -}}

{{/* Workloads ----------------------------------------------------------------
One Deployment each: ingest runs as two (the api front and the worker), the other
services as one process with every role ("all"). "port" is the service's port
(crm_common.settings.SERVICE_PORTS); "scaled": KEDA scales it on consumer lag.
Rendered as YAML, read back with fromYaml. */}}
{{- define "crm.workloads" -}}
{{- $v := .Values -}}
items:
  - name: ingest-api
    service: ingest
    role: api
    port: 8001
    scaled: false
    replicas: {{ $v.ingest.api.replicas }}
    resources: {{- toYaml $v.ingest.api.resources | nindent 6 }}
    env: {{- toYaml $v.ingest.env | nindent 6 }}
    envFrom: {{- toYaml $v.ingest.envFrom | nindent 6 }}
    hpa: {{ $v.ingest.api.autoscaling.enabled }}
  - name: ingest-worker
    service: ingest
    role: worker
    port: 8001
    scaled: true
    replicas: {{ $v.ingest.worker.replicas }}
    keda: {{- toYaml $v.ingest.worker.keda | nindent 6 }}
    resources: {{- toYaml $v.ingest.worker.resources | nindent 6 }}
    env: {{- toYaml $v.ingest.env | nindent 6 }}
    envFrom: {{- toYaml $v.ingest.envFrom | nindent 6 }}
{{- range $name, $port := dict "profile" 8002 "segment" 8003 "messaging" 8004 "dashboard" 8000 }}
{{- $w := index $v $name }}
  - name: {{ $name }}
    service: {{ $name }}
    role: all
    port: {{ $port }}
    scaled: {{ ne $name "dashboard" }}
    replicas: {{ $w.replicas }}
    keda: {{- toYaml (default (dict) $w.keda) | nindent 6 }}
    resources: {{- toYaml $w.resources | nindent 6 }}
    env: {{- toYaml $w.env | nindent 6 }}
    envFrom: {{- toYaml $w.envFrom | nindent 6 }}
{{- end }}
{{- end -}}

{{/* The secret variables each service holds (ServiceSettings.secrets()): its own
internal key only; the console the four it signs with. */}}
{{- define "crm.secretVariables" -}}
ingest: [CRM_METRICS_TOKEN, CRM_INTERNAL_KEY_INGEST, INGEST_ADMIN_TOKEN, INGEST_SECRETS_KEY]
profile: [CRM_METRICS_TOKEN, CRM_INTERNAL_KEY_PROFILE]
segment: [CRM_METRICS_TOKEN, CRM_INTERNAL_KEY_SEGMENT]
messaging: [CRM_METRICS_TOKEN, CRM_INTERNAL_KEY_MESSAGING]
dashboard:
  - CRM_METRICS_TOKEN
  - CRM_INTERNAL_KEY_INGEST
  - CRM_INTERNAL_KEY_PROFILE
  - CRM_INTERNAL_KEY_SEGMENT
  - CRM_INTERNAL_KEY_MESSAGING
  - DASHBOARD_SESSION_SECRET
{{- end -}}

{{/* Environment of one workload's containers: (dict "root" $ "w" $workload) */}}
{{- define "crm.env" -}}
{{- $root := .root -}}
{{- $w := .w -}}
{{- $v := $root.Values -}}
{{- $prefix := upper $w.service -}}
{{- $full := include "crm.fullname" $root -}}
- name: {{ $prefix }}_HOST
  value: "0.0.0.0"
- name: {{ $prefix }}_PORT
  value: {{ $w.port | quote }}
- name: {{ $prefix }}_ROLE
  value: {{ $w.role }}
{{- if eq $w.name "ingest-api" }}
- name: INGEST_WORKERS
  value: {{ $v.ingest.api.workers | quote }}
{{- end }}
{{- if eq $w.service "ingest" }}
- name: INGEST_IMPORT_SPOOL_DIR
  value: /var/spool/crm-ingest/imports
{{- end }}
{{- if eq $w.service "dashboard" }}
{{- range $name := list "ingest" "profile" "segment" "messaging" }}
{{- $target := ternary "ingest-api" $name (eq $name "ingest") }}
- name: DASHBOARD_{{ upper $name }}_URL
  value: {{ printf "http://%s-%s:%d" $full $target (int (get (dict "ingest" 8001 "profile" 8002 "segment" 8003 "messaging" 8004) $name)) | quote }}
{{- end }}
{{- end }}
{{- with (include "crm.publicIngestUrl" $root) }}
{{- if eq $w.service "dashboard" }}
- name: DASHBOARD_PUBLIC_INGEST_URL
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- if and (eq $w.service "messaging") $v.messaging.publicUrl }}
- name: MESSAGING_PUBLIC_URL
  value: {{ $v.messaging.publicUrl | quote }}
{{- end }}
- name: LOG_LEVEL
  value: {{ $v.logLevel | quote }}
- name: KAFKA_BOOTSTRAP_SERVERS
  value: {{ include "crm.bootstrapServers" $root | quote }}
- name: KAFKA_PARTITIONS
  value: {{ $v.kafka.partitions | quote }}
- name: KAFKA_REPLICATION_FACTOR
  value: {{ $v.kafka.replicationFactor | quote }}
{{- if $v.cnpg.enabled }}
- name: POSTGRES_HOST
  value: {{ printf "%s-rw" (include "crm.pgCluster" $root) }}
- name: POSTGRES_PORT
  value: "5432"
{{- else }}
- name: POSTGRES_HOST
  value: {{ required "postgres.host is required (or cnpg.enabled)" $v.postgres.host | quote }}
- name: POSTGRES_PORT
  value: {{ $v.postgres.port | quote }}
{{- end }}
- name: POSTGRES_DATABASE
  value: {{ $v.postgres.database | quote }}
- name: POSTGRES_USER
  value: {{ $v.postgres.user | quote }}
{{- if $v.cnpg.enabled }}
- name: POSTGRES_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ printf "%s-app" (include "crm.pgCluster" $root) }}, key: password}
{{- else if $v.postgres.existingSecret }}
- name: POSTGRES_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ $v.postgres.existingSecret }}, key: {{ $v.postgres.passwordKey }}}
{{- else if or $v.postgres.password $v.secrets.existingSecret }}
- name: POSTGRES_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ include "crm.secretName" $root }}, key: POSTGRES_PASSWORD}
{{- end }}
- name: POSTGRES_POOL_SIZE
  value: {{ $v.postgres.poolSize | quote }}
{{- range $variable := index (include "crm.secretVariables" $root | fromYaml) $w.service }}
- name: {{ $variable }}
  valueFrom:
    secretKeyRef: {name: {{ include "crm.secretName" $root }}, key: {{ $variable }}}
{{- end }}
{{- range $name, $value := $w.env }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{- define "crm.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if eq .service "ingest" }}
- name: spool
  mountPath: /var/spool/crm-ingest
{{- end }}
{{- end -}}

{{- define "crm.volumes" -}}
{{- $v := .root.Values -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ $v.tmpSizeLimit }}
{{- if eq .w.service "ingest" }}
- name: spool
  persistentVolumeClaim:
    claimName: {{ $v.ingest.spool.existingClaim | default (printf "%s-ingest-spool" (include "crm.fullname" .root)) }}
{{- end }}
{{- end -}}

{{/* The container that migrates a service's schema (Job and init container). */}}
{{- define "crm.migrateContainer" -}}
name: migrate
image: {{ include "crm.image" (dict "root" .root "service" .w.service) }}
imagePullPolicy: {{ .root.Values.image.pullPolicy }}
command: ["python", "-m", "crm_{{ .w.service }}", "migrate"]
env: {{- include "crm.env" . | nindent 2 }}
{{- with .w.envFrom }}
envFrom: {{- toYaml . | nindent 2 }}
{{- end }}
securityContext: {{- toYaml .root.Values.securityContext | nindent 2 }}
resources: {{- toYaml .root.Values.migrations.resources | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
{{- end -}}

{{/* Refuse settings that would lose data or run unsafely. */}}
{{- define "crm.validate" -}}
{{- $v := .Values -}}
{{- if lt (int $v.kafka.replicationFactor) (int $v.kafka.minInsyncReplicas) -}}
{{- fail "kafka.minInsyncReplicas must not exceed kafka.replicationFactor (no write could be acknowledged)" -}}
{{- end -}}
{{- if and $v.strimzi.enabled (lt (int $v.strimzi.replicas) (int $v.kafka.replicationFactor)) -}}
{{- fail "strimzi.replicas must be at least kafka.replicationFactor" -}}
{{- end -}}
{{- end -}}
