{{/* Chart name, cut to the 63 characters of a DNS label. */}}
{{- define "mcpgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: the release name, with the chart name unless it is already in it. */}}
{{- define "mcpgate.fullname" -}}
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

{{- define "mcpgate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mcpgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mcpgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mcpgate.labels" -}}
helm.sh/chart: {{ include "mcpgate.chart" . }}
{{ include "mcpgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/component: gateway
app.kubernetes.io/part-of: mcpgate
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "mcpgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mcpgate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "mcpgate.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* The port of a host:port listen address ("0.0.0.0:8080", ":8080", "[::]:8080"). */}}
{{- define "mcpgate.port" -}}
{{- $parts := splitList ":" (toString .) }}
{{- $port := last $parts }}
{{- if not (regexMatch "^[0-9]+$" $port) }}
{{- fail (printf "listen address %q has no port: write it as host:port, e.g. 0.0.0.0:8080" (toString .)) }}
{{- end }}
{{- $port | atoi }}
{{- end }}

{{/* The gateway's port, from config.listen (mcpgate's default 127.0.0.1:8080 would be unreachable in a pod). */}}
{{- define "mcpgate.httpPort" -}}
{{- if not .Values.config.listen }}
{{- fail "config.listen is required: set it to 0.0.0.0:8080 so that the Service reaches the pod" }}
{{- end }}
{{- include "mcpgate.port" .Values.config.listen }}
{{- end }}

{{/* The admin listener's port, from config.admin.listen. */}}
{{- define "mcpgate.adminPort" -}}
{{- $admin := .Values.config.admin | default dict }}
{{- if not $admin.listen }}
{{- fail "config.admin.listen is required: the probes and metrics use the admin listener (e.g. 0.0.0.0:9090)" }}
{{- end }}
{{- include "mcpgate.port" $admin.listen }}
{{- end }}

{{/* The most replicas the release can run: replicaCount, or the autoscaler's maximum. */}}
{{- define "mcpgate.maxReplicas" -}}
{{- if .Values.autoscaling.enabled }}
{{- .Values.autoscaling.maxReplicas | int }}
{{- else }}
{{- .Values.replicaCount | int }}
{{- end }}
{{- end }}

{{/*
mcpgate.validate refuses combinations that would render but not work. A SQLite database is
one file that one process owns: with several replicas each pod would have its own (or fight
over one on a shared volume), so sign-ins, refresh tokens and rate limits would differ by pod.
*/}}
{{- define "mcpgate.validate" -}}
{{- $store := .Values.config.store | default dict }}
{{- $max := include "mcpgate.maxReplicas" . | int }}
{{- if and $store.sqlite (gt $max 1) }}
{{- fail (printf "config.store.sqlite allows one replica, but this release would run up to %d (replicaCount or autoscaling.maxReplicas): use PostgreSQL and Redis for several replicas (values-ha.yaml), or set replicaCount to 1 and autoscaling.enabled to false" $max) }}
{{- end }}
{{- if and $store.sqlite $store.postgres }}
{{- fail "config.store has both sqlite and postgres: choose one (with -f values-ha.yaml over the defaults, values-ha.yaml sets sqlite to null)" }}
{{- end }}
{{- if and $store.postgres (not .Values.secrets.postgres.existingSecret) }}
{{- $dsn := toString ($store.postgres.dsn | default "") }}
{{- if contains "${MCPGATE_DATABASE_URL" $dsn }}
{{- $fromExtra := false }}
{{- range .Values.extraEnv }}{{ if eq .name "MCPGATE_DATABASE_URL" }}{{ $fromExtra = true }}{{ end }}{{ end }}
{{- if not $fromExtra }}
{{- fail "config.store.postgres.dsn reads ${MCPGATE_DATABASE_URL}: set secrets.postgres.existingSecret to the Secret holding the DSN" }}
{{- end }}
{{- end }}
{{- end }}
{{- if and .Values.persistence.enabled (gt $max 1) (has "ReadWriteOnce" .Values.persistence.accessModes) }}
{{- fail "persistence is a ReadWriteOnce volume, which several replicas cannot share: set persistence.enabled to false (the data directory is then an emptyDir)" }}
{{- end }}
{{- end }}

{{/* The container's environment: secrets by reference, then extraEnv. */}}
{{- define "mcpgate.env" -}}
{{- with .Values.secrets.sealingKeys }}
{{- if .existingSecret }}
- name: {{ .envName }}
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .key }}
{{- end }}
{{- end }}
{{- with .Values.secrets.postgres }}
{{- if .existingSecret }}
- name: MCPGATE_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .key }}
{{- end }}
{{- end }}
{{- with .Values.secrets.redis }}
{{- if .existingSecret }}
- name: MCPGATE_REDIS_ADDR
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .addrKey }}
- name: MCPGATE_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .passwordKey }}
      optional: true
{{- end }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}
