{{/* The chart's name, at most 63 characters. */}}
{{- define "sre-bot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The fully qualified app name: the release name, with the chart's name unless it already contains it. */}}
{{- define "sre-bot.fullname" -}}
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

{{- define "sre-bot.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sre-bot.labels" -}}
helm.sh/chart: {{ include "sre-bot.chart" . }}
{{ include "sre-bot.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "sre-bot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sre-bot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "sre-bot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sre-bot.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret with the credentials: `existingSecret`, or one named like the release. */}}
{{- define "sre-bot.secretName" -}}
{{- default (include "sre-bot.fullname" .) .Values.existingSecret }}
{{- end }}

{{/* The SQLite file when no PostgreSQL URL is configured. */}}
{{- define "sre-bot.dataDir" -}}/var/lib/sre-bot{{- end }}

{{/* The config file the bot reads (SRE_BOT_CONFIG), with runbooks.dir defaulted when runbooks are shipped. */}}
{{- define "sre-bot.config" -}}
{{- $cfg := deepCopy (.Values.config | default dict) }}
{{- if .Values.runbooks }}
{{- $rb := deepCopy (get $cfg "runbooks" | default dict) }}
{{- if not (hasKey $rb "dir") }}
{{- $_ := set $rb "dir" "/etc/sre-bot/runbooks" }}
{{- end }}
{{- $_ := set $cfg "runbooks" $rb }}
{{- end }}
{{- if $cfg }}
{{- toYaml $cfg }}
{{- else }}
{{- "{}" }}
{{- end }}
{{- end }}

{{/*
Refuse what cannot work, before anything reaches the cluster:
several replicas on SQLite, an unknown Slack mode, secrets among the plain settings.
*/}}
{{- define "sre-bot.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.database.urlSecretKey) }}
{{- fail (printf "replicaCount is %d but database.urlSecretKey is empty: SQLite cannot be shared by replicas. Set database.urlSecretKey to the key of a PostgreSQL SRE_BOT_DB_URL (postgresql+asyncpg://...) in the Secret %q, or set replicaCount=1." (int .Values.replicaCount) (include "sre-bot.secretName" .)) }}
{{- end }}
{{- if not (has .Values.slack.mode (list "http" "socket")) }}
{{- fail (printf "slack.mode must be http or socket, not %q" .Values.slack.mode) }}
{{- end }}
{{- range $name, $_ := .Values.env }}
{{- if or (has $name (list "SLACK_BOT_TOKEN" "SLACK_SIGNING_SECRET" "SLACK_APP_TOKEN" "ANTHROPIC_API_KEY" "PROMETHEUS_TOKEN" "LOKI_TOKEN" "ARGOCD_TOKEN" "SRE_BOT_DB_URL" "SRE_BOT_ALERTMANAGER_TOKEN" "SRE_BOT_ALERTMANAGER_PASSWORD" "SRE_BOT_WEBHOOK_SECRETS")) (has $name (list "SRE_BOT_HTTP_HOST" "SRE_BOT_HTTP_PORT" "SRE_BOT_CONFIG")) }}
{{- fail (printf "env.%s: this setting is not a plain value in this chart (secrets go in the Secret %q; the chart sets the HTTP host, port and config path itself)" $name (include "sre-bot.secretName" $)) }}
{{- end }}
{{- end }}
{{- if and .Values.persistence.enabled .Values.database.urlSecretKey }}
{{- fail "persistence.enabled is for SQLite; with PostgreSQL (database.urlSecretKey) the bot keeps nothing on disk" }}
{{- end }}
{{- end }}
