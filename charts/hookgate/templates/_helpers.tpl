{{/*
Names are fixed by the contract the operator, the injector and the docs share (one Hookgate per
cluster: the ClusterRole and the MutatingWebhookConfiguration are cluster-scoped), so there is no
fullnameOverride.
*/}}

{{/* Labels on every object the chart renders. */}}
{{- define "hookgate.labels" -}}
app.kubernetes.io/name: hookgate
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: hookgate
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/* The operator's selector: the labels contracts.md fixes. */}}
{{- define "hookgate.operatorSelector" -}}
app.kubernetes.io/name: hookgate
app.kubernetes.io/component: operator
{{- end }}

{{/* An image reference from {repository, tag, digest}; the tag defaults to the chart's appVersion. */}}
{{- define "hookgate.image" -}}
{{- $image := index . 0 -}}
{{- $root := index . 1 -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository (default $root.Chart.AppVersion $image.tag) -}}
{{- end -}}
{{- end }}

{{/* The webhook Service's DNS names, for the serving certificate. */}}
{{- define "hookgate.webhookDNSNames" -}}
- hookgate-operator-webhook.{{ .Release.Namespace }}.svc
- hookgate-operator-webhook.{{ .Release.Namespace }}.svc.cluster.local
{{- if .Values.configStream.enabled }}
- hookgate-operator-config.{{ .Release.Namespace }}.svc
- hookgate-operator-config.{{ .Release.Namespace }}.svc.cluster.local
{{- end }}
{{- end }}

{{/* The Secret holding the Redis URL ("" when Redis is not configured). */}}
{{- define "hookgate.redisSecretName" -}}
{{- if .Values.redis.existingSecret -}}
{{- .Values.redis.existingSecret -}}
{{- else if .Values.redis.url -}}
hookgate-redis
{{- end -}}
{{- end }}

{{/* Cross-field checks the JSON schema cannot express, each naming the value to change. */}}
{{- define "hookgate.validate" -}}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.service.enabled) -}}
{{- fail "metrics.serviceMonitor.enabled needs metrics.service.enabled: true (the ServiceMonitor scrapes that Service)" -}}
{{- end -}}
{{- if and .Values.defaultPolicy.enabled (empty .Values.defaultPolicy.namespaces) -}}
{{- fail "defaultPolicy.enabled needs defaultPolicy.namespaces: WebhookPolicies are namespaced, list the namespaces to put it in" -}}
{{- end -}}
{{- if and (gt (int .Values.operator.replicas) 1) (not .Values.operator.leaderElection) -}}
{{- fail "operator.replicas above 1 needs operator.leaderElection: true (otherwise every replica reconciles and they overwrite each other)" -}}
{{- end -}}
{{- if and .Values.redis.url .Values.redis.existingSecret -}}
{{- fail "set redis.url or redis.existingSecret, not both" -}}
{{- end -}}
{{- if has .Release.Namespace .Values.defaultPolicy.namespaces -}}
{{- fail (printf "defaultPolicy.namespaces: %q is the operator's namespace, which is never injected; list application namespaces" .Release.Namespace) -}}
{{- end -}}
{{- end }}

{{/*
The operator's Secret access in a namespace it reconciles: read the Secrets endpoints and
policies reference (values are copied only into the same namespace), write only the one it
publishes. In the ClusterRole when every namespace is reconciled, else in a Role per namespace.
ConfigMaps are read where Secrets are, for CA bundles (spec.tls.caBundle.configMapKeyRef); the
operator keeps only their certificate keys (ADR 0021).
*/}}
{{- define "hookgate.secretRules" -}}
- apiGroups: ['']
  resources: [secrets]
  verbs: [get, list, watch]
- apiGroups: ['']
  resources: [secrets]
  resourceNames: [hookgate-sidecar-secrets]
  verbs: [create, patch]
- apiGroups: ['']
  resources: [configmaps]
  verbs: [get, list, watch]
{{- end }}
