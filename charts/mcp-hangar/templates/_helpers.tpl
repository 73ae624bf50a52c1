{{/*
Names are fixed (mcp-hangar-aggregator, mcp-hangar-injector, ...): injected sidecars find the
aggregator at http://mcp-hangar-aggregator.<namespace>.svc:8000, and the webhook's certificate
names the injector's Service. One release per cluster (the webhook configuration is cluster-wide).
*/}}

{{/* Labels of every object; call with (dict "root" $ "component" "aggregator"). */}}
{{- define "mcp-hangar.labels" -}}
{{ include "mcp-hangar.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Selector labels of a component's pods (the NetworkPolicies select on these too). */}}
{{- define "mcp-hangar.selectorLabels" -}}
app.kubernetes.io/name: mcp-hangar
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* An image reference; call with (dict "root" $ "image" .Values.aggregator.image). */}}
{{- define "mcp-hangar.image" -}}
{{- $tag := .image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- if .root.Values.image.registry -}}
{{ printf "%s/%s:%s" (trimSuffix "/" .root.Values.image.registry) .image.repository $tag }}
{{- else -}}
{{ printf "%s:%s" .image.repository $tag }}
{{- end -}}
{{- end -}}

{{/* The URL injected sidecars ship signals to. */}}
{{- define "mcp-hangar.aggregatorUrl" -}}
{{- .Values.injector.aggregatorUrl | default (printf "http://mcp-hangar-aggregator.%s.svc:8000" .Release.Namespace) -}}
{{- end -}}

{{/* Pod-level hardening shared by the aggregator and the injector (uid/gid 65532, as the images). */}}
{{- define "mcp-hangar.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container hardening: no capabilities, read-only root, no privilege escalation. */}}
{{- define "mcp-hangar.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* imagePullSecrets of a pod spec; include only when image.pullSecrets is set. */}}
{{- define "mcp-hangar.imagePullSecrets" -}}
imagePullSecrets:
{{- range .Values.image.pullSecrets }}
  - name: {{ . | quote }}
{{- end }}
{{- end -}}

{{/*
The injector's TLS material, generated ONCE per render and shared by the Secret, the webhook
configuration (caBundle) and the Deployment (a checksum that rolls the pods when it changes):
every template that includes this gets the same CA and certificate. Kept across upgrades: an
existing mcp-hangar-injector-tls Secret (lookup) is reused as it is. With
injector.tls.existingSecret the certificate is the operator's and caBundle comes from values.
Result (as YAML): secretName, generate (bool), caBundle, crt, key (base64; empty when supplied).
*/}}
{{- define "mcp-hangar.injectorTls" -}}
{{- if not (hasKey .Values "__mcpHangarInjectorTls") -}}
{{- $tls := dict "secretName" "mcp-hangar-injector-tls" "generate" true "caBundle" "" "crt" "" "key" "" -}}
{{- if .Values.injector.tls.existingSecret -}}
{{- if not .Values.injector.tls.caBundle -}}
{{- fail "injector.tls.caBundle: required with injector.tls.existingSecret (the base64 PEM of the CA that signed its certificate; the API server verifies the webhook with it)" -}}
{{- end -}}
{{- $_ := set $tls "secretName" .Values.injector.tls.existingSecret -}}
{{- $_ := set $tls "generate" false -}}
{{- $_ := set $tls "caBundle" .Values.injector.tls.caBundle -}}
{{- else -}}
{{- if .Values.injector.tls.caBundle -}}
{{- fail "injector.tls.caBundle: set only together with injector.tls.existingSecret (the chart generates its own CA otherwise)" -}}
{{- end -}}
{{- $old := lookup "v1" "Secret" .Release.Namespace "mcp-hangar-injector-tls" -}}
{{- $data := dig "data" dict $old -}}
{{- if and (index $data "ca.crt") (index $data "tls.crt") (index $data "tls.key") -}}
{{- $_ := set $tls "caBundle" (index $data "ca.crt") -}}
{{- $_ := set $tls "crt" (index $data "tls.crt") -}}
{{- $_ := set $tls "key" (index $data "tls.key") -}}
{{- else -}}
{{- $days := int .Values.injector.tls.validityDays -}}
{{- $ns := .Release.Namespace -}}
{{- $ca := genCA "mcp-hangar-injector-ca" $days -}}
{{- $sans := list "mcp-hangar-injector" (printf "mcp-hangar-injector.%s" $ns) (printf "mcp-hangar-injector.%s.svc" $ns) (printf "mcp-hangar-injector.%s.svc.cluster.local" $ns) -}}
{{- $cert := genSignedCert (printf "mcp-hangar-injector.%s.svc" $ns) nil $sans $days $ca -}}
{{- $_ := set $tls "caBundle" ($ca.Cert | b64enc) -}}
{{- $_ := set $tls "crt" ($cert.Cert | b64enc) -}}
{{- $_ := set $tls "key" ($cert.Key | b64enc) -}}
{{- end -}}
{{- end -}}
{{- $_ := set .Values "__mcpHangarInjectorTls" $tls -}}
{{- end -}}
{{- toYaml (get .Values "__mcpHangarInjectorTls") -}}
{{- end -}}

{{/*
The aggregator's tokens, generated once per render (the token Secret and its copies in
signalTokenNamespaces carry the same signal token) and kept across upgrades (lookup).
Result (as YAML): signal, admin (plain text).
*/}}
{{- define "mcp-hangar.tokens" -}}
{{- if not (hasKey .Values "__mcpHangarTokens") -}}
{{- $old := lookup "v1" "Secret" .Release.Namespace "mcp-hangar-aggregator-tokens" -}}
{{- $data := dig "data" dict $old -}}
{{- $signal := .Values.aggregator.tokens.signal | default (index $data "signal-token" | default "" | b64dec) | default (randAlphaNum 48) -}}
{{- $admin := .Values.aggregator.tokens.admin | default (index $data "admin-token" | default "" | b64dec) | default (randAlphaNum 48) -}}
{{- if eq $signal $admin -}}
{{- fail "aggregator.tokens: the signal and admin tokens must differ (a token has one class: signal tokens ingest, admin tokens query and control)" -}}
{{- end -}}
{{- $_ := set .Values "__mcpHangarTokens" (dict "signal" $signal "admin" $admin) -}}
{{- end -}}
{{- toYaml (get .Values "__mcpHangarTokens") -}}
{{- end -}}

{{/*
Address ranges an FQDN rule's NetworkPolicy never opens: every IPv4 range the sidecar classifies
as not global (IANA IPv4 Special-Purpose Address Registry, RFC 6890; cloud metadata addresses),
and, for IPv6, everything outside global unicast 2000::/3 (RFC 4291 section 2.4) plus the special
ranges inside it (Teredo and the IETF protocol block 2001::/23, documentation 2001:db8::/32 and
3fff::/20, 6to4 2002::/16).
*/}}
{{- define "mcp-hangar.nonGlobalV4" -}}
- 0.0.0.0/8
- 10.0.0.0/8
- 100.64.0.0/10
- 100.100.100.200/32
- 127.0.0.0/8
- 169.254.0.0/16
- 172.16.0.0/12
- 192.0.0.0/24
- 192.0.2.0/24
- 192.31.196.0/24
- 192.52.193.0/24
- 192.88.99.0/24
- 192.168.0.0/16
- 192.175.48.0/24
- 198.18.0.0/15
- 198.51.100.0/24
- 203.0.113.0/24
- 224.0.0.0/3
{{- end -}}
{{- define "mcp-hangar.nonGlobalV6" -}}
- ::/3
- 4000::/2
- 8000::/1
- 2001::/23
- 2001:db8::/32
- 2002::/16
- 3fff::/20
{{- end -}}

{{/* A NetworkPolicy port list from [{port, endPort?, protocol?}]. */}}
{{- define "mcp-hangar.ports" -}}
{{- range . }}
- port: {{ .port }}
  protocol: {{ .protocol | default "TCP" }}
{{- with .endPort }}
  endPort: {{ . }}
{{- end }}
{{- end }}
{{- end -}}
