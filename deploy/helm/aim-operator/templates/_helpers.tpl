{{/* The name of every object: the release's, so two releases do not collide ("aim-operator" renders deploy/base). */}}
{{- define "aim-operator.fullname" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* deploy/base's label, plus Helm's standard ones. */}}
{{- define "aim-operator.labels" -}}
app.kubernetes.io/name: aim-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "aim-operator.selector" -}}
app.kubernetes.io/name: aim-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
