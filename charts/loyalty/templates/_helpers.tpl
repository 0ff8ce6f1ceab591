{{/*
Names, labels and the tables that tie values to the services' flags.
*/}}

{{- define "loyalty.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* Resource name prefix; kept short so "<prefix>-social-poller-headless" fits in 63. */}}
{{- define "loyalty.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "loyalty.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every resource. */}}
{{- define "loyalty.labels" -}}
helm.sh/chart: {{ include "loyalty.chart" . }}
app.kubernetes.io/name: {{ include "loyalty.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: loyalty
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "ledger"). */}}
{{- define "loyalty.selectorLabels" -}}
app.kubernetes.io/name: {{ include "loyalty.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Name of a component's resources: (dict "root" $ "component" "ledger"). */}}
{{- define "loyalty.componentName" -}}
{{- printf "%s-%s" (include "loyalty.fullname" .root) .component -}}
{{- end -}}

{{- define "loyalty.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "loyalty.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The image of the service binaries. */}}
{{- define "loyalty.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* In-cluster gRPC URL of a service: (dict "root" $ "service" "identity"). */}}
{{- define "loyalty.grpcUrl" -}}
{{- $svc := index .root.Values.services .service -}}
{{- if not $svc.ports.grpc -}}
{{- fail (printf "%s serves no gRPC: it cannot be an upstream" .service) -}}
{{- end -}}
{{- printf "http://%s.%s.svc:%v" (include "loyalty.componentName" (dict "root" .root "component" .service)) .root.Release.Namespace $svc.ports.grpc -}}
{{- end -}}

{{/* The NATS URL the services use ("" when there is none). */}}
{{- define "loyalty.natsUrl" -}}
{{- if .Values.nats.bundled.enabled -}}
{{- printf "nats://%s.%s.svc:4222" (include "loyalty.componentName" (dict "root" . "component" "nats")) .Release.Namespace -}}
{{- else -}}
{{- .Values.nats.url -}}
{{- end -}}
{{- end -}}

{{/*
settings key -> env var, per service (from each service's config.rs and
services/kit/src/bootstrap.rs). A settings key missing here is refused.
*/}}
{{- define "loyalty.settingsEnv" -}}
common:
  cacheMb: LOYALTY_CACHE_MB
  logFormat: LOYALTY_LOG_FORMAT
  logFilter: RUST_LOG
  natsDuplicateWindowSecs: LOYALTY_NATS_DUPLICATE_WINDOW_SECS
  shutdownGraceSecs: LOYALTY_SHUTDOWN_GRACE_SECS
identity:
  emitVirtualCard: IDENTITY_EMIT_VIRTUAL_CARD
  mainCardAssigningRequired: IDENTITY_MAIN_CARD_ASSIGNING_REQUIRED
  registrationProviderPhone: IDENTITY_REGISTRATION_PROVIDER_PHONE
  registrationProviderCard: IDENTITY_REGISTRATION_PROVIDER_CARD
  registrationProviderAnonymous: IDENTITY_REGISTRATION_PROVIDER_ANONYMOUS
  emailStep: IDENTITY_EMAIL_STEP
  tokenTtlSecs: IDENTITY_TOKEN_TTL_SECS
  codeTtlSecs: IDENTITY_CODE_TTL_SECS
  resendCooldownSecs: IDENTITY_RESEND_COOLDOWN_SECS
  dailyCodes: IDENTITY_DAILY_CODES
  virtualCardFirst: IDENTITY_VIRTUAL_CARD_FIRST
  virtualCardLast: IDENTITY_VIRTUAL_CARD_LAST
  smsProvider: LOYALTY_NOTIFY_SMS_PROVIDER
  emailProvider: LOYALTY_NOTIFY_EMAIL_PROVIDER
  smtpHost: LOYALTY_NOTIFY_SMTP_HOST
  smtpPort: LOYALTY_NOTIFY_SMTP_PORT
  smtpSecurity: LOYALTY_NOTIFY_SMTP_SECURITY
  smtpFrom: LOYALTY_NOTIFY_SMTP_FROM
  smtpTimeoutSecs: LOYALTY_NOTIFY_SMTP_TIMEOUT_SECS
  smsHttpUrl: LOYALTY_NOTIFY_SMS_HTTP_URL
  smsHttpBodyTemplate: LOYALTY_NOTIFY_SMS_HTTP_BODY_TEMPLATE
  smsHttpContentType: LOYALTY_NOTIFY_SMS_HTTP_CONTENT_TYPE
  smsHttpTimeoutSecs: LOYALTY_NOTIFY_SMS_HTTP_TIMEOUT_SECS
ledger:
  expiryIntervalSecs: LEDGER_EXPIRY_INTERVAL_SECS
  holdTtlSecs: LEDGER_HOLD_TTL_SECS
  holdMaxTtlSecs: LEDGER_HOLD_MAX_TTL_SECS
  memberDirectory: LEDGER_MEMBER_DIRECTORY
  memberCacheEntries: LEDGER_MEMBER_CACHE_ENTRIES
  openCurrencies: LEDGER_OPEN_CURRENCIES
purchases:
  confirmTimeoutSecs: PURCHASES_CONFIRM_TIMEOUT_SECS
  sweepIntervalSecs: PURCHASES_SWEEP_INTERVAL_SECS
  refundShortfall: PURCHASES_REFUND_SHORTFALL
certificates: {}
social-poller:
  vkBaseUrl: SOCIAL_VK_BASE_URL
  vkApiVersion: SOCIAL_VK_API_VERSION
  vkRequestsPerSecond: SOCIAL_VK_REQUESTS_PER_SECOND
  httpTimeoutSecs: SOCIAL_HTTP_TIMEOUT_SECS
  pollDeadlineSecs: SOCIAL_POLL_DEADLINE_SECS
  pollIntervalSecs: SOCIAL_POLL_INTERVAL_SECS
  pollJitter: SOCIAL_POLL_JITTER
  recentPosts: SOCIAL_RECENT_POSTS
  creditUnlinked: SOCIAL_CREDIT_UNLINKED
gateway:
  requestTimeoutSecs: GATEWAY_REQUEST_TIMEOUT_SECS
  uploadTimeoutSecs: GATEWAY_UPLOAD_TIMEOUT_SECS
  maxBodyKib: GATEWAY_MAX_BODY_KIB
  naiveTimeOffset: GATEWAY_NAIVE_TIME_OFFSET
  deviceTokenTtlSecs: GATEWAY_DEVICE_TOKEN_TTL_SECS
  trustedProxies: GATEWAY_TRUSTED_PROXIES
  drainSecs: GATEWAY_DRAIN_SECS
{{- end -}}

{{/*
What each binary is, beyond its settings (its config.rs): the services built on the kit
(services/kit/src/bootstrap.rs) serve gRPC with health on LOYALTY_GRPC_ADDR, keep an event
log in LOYALTY_DATA_DIR, use NATS and read a callers file; the gateway (services/gateway/src/
config.rs) does none of these: it serves HTTP on its own address, with /health/ready and
/health/live (services/gateway/src/http/mod.rs), reads only the `common` settings listed, and
has its shutdown bounded by its request timeout instead of LOYALTY_SHUTDOWN_GRACE_SECS.
The social poller (services/social-poller/src/config.rs) is a kit service that may also serve
the VK Callback API over HTTP on `callback.addrEnv` (its `callback.enabled` value).
A service not listed here is a kit service.
*/}}
{{- define "loyalty.contracts" -}}
kit:
  grpc: true
  dataDir: true
  nats: true
  common: [logFormat, logFilter, natsDuplicateWindowSecs, shutdownGraceSecs]
social-poller:
  grpc: true
  dataDir: true
  nats: true
  common: [logFormat, logFilter, natsDuplicateWindowSecs, shutdownGraceSecs]
  callback:
    addrEnv: SOCIAL_CALLBACK_ADDR
gateway:
  grpc: false
  dataDir: false
  nats: false
  common: [logFormat, logFilter]
  http:
    addrEnv: GATEWAY_HTTP_ADDR
    ready: /health/ready
    live: /health/live
{{- end -}}

{{/* The contract of one service: (dict "root" $ "name" "gateway"). */}}
{{- define "loyalty.contract" -}}
{{- $contracts := fromYaml (include "loyalty.contracts" .root) -}}
{{- toYaml (index $contracts .name | default $contracts.kit) -}}
{{- end -}}

{{/* A service's settings: its own over the `common` ones it reads: (dict "root" $ "svc" $svc "contract" $c). */}}
{{- define "loyalty.settings" -}}
{{- $common := dict -}}
{{- range (.contract.common | default list) -}}
{{- if hasKey $.root.Values.common . -}}
{{- $_ := set $common . (index $.root.Values.common .) -}}
{{- end -}}
{{- end -}}
{{- toYaml (merge (deepCopy (.svc.settings | default dict)) (deepCopy $common)) -}}
{{- end -}}

{{/*
files key -> file name in the ConfigMap and the env var that gets its path.
"format: json" files are given as YAML values and written as JSON.
*/}}
{{- define "loyalty.filesEnv" -}}
identity:
  questionnaire: {file: questionnaire.json, env: IDENTITY_QUESTIONNAIRE, format: json}
  templates: {file: templates.json, env: IDENTITY_TEMPLATES_FILE, format: json}
ledger:
  catalog: {file: catalog.toml, env: LEDGER_CATALOG_FILE, format: text}
purchases:
  rules: {file: rules.toml, env: PURCHASES_RULES_FILE, format: text}
certificates: {}
social-poller: {}
gateway: {}
{{- end -}}

{{/* Whether a service has any config file set: (dict "root" $ "name" "purchases" "svc" $svc). */}}
{{- define "loyalty.hasFiles" -}}
{{- range $key, $content := (.svc.files | default dict) -}}
{{- if not (kindIs "invalid" $content) -}}yes{{- end -}}
{{- end -}}
{{- end -}}

{{/* Where things are mounted in the containers. */}}
{{- define "loyalty.configDir" -}}/etc/loyalty/config{{- end -}}
{{- define "loyalty.authDir" -}}/etc/loyalty/auth{{- end -}}
{{- define "loyalty.serverKeyDir" -}}/etc/loyalty/server-key{{- end -}}
{{- define "loyalty.apiKeysDir" -}}/etc/loyalty/api-keys{{- end -}}
{{- define "loyalty.deviceTokenKeyDir" -}}/etc/loyalty/device-token-key{{- end -}}
{{- define "loyalty.socialSecretsDir" -}}/etc/loyalty/social-secrets{{- end -}}

{{/* The VK Callback API port of a service, 0 when it serves none:
(dict "svc" $svc "contract" $contract). */}}
{{- define "loyalty.callbackPort" -}}
{{- if and .contract.callback (dig "callback" "enabled" false .svc) -}}
{{- .svc.callback.port | int -}}
{{- else -}}
0
{{- end -}}
{{- end -}}

{{/* The Secret of the gateway's API keys file ("" when there is none): the existing one, or
the chart's own when its content is given. */}}
{{- define "loyalty.apiKeysSecret" -}}
{{- $apiKeys := dig "secrets" "apiKeys" dict .Values.services.gateway -}}
{{- if $apiKeys.existingSecret -}}
{{- $apiKeys.existingSecret -}}
{{- else if $apiKeys.content -}}
{{- include "loyalty.componentName" (dict "root" . "component" "gateway") -}}-api-keys
{{- end -}}
{{- end -}}

{{/* Pod-level security context of every pod. */}}
{{- define "loyalty.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.runtime.uid }}
runAsGroup: {{ .Values.runtime.uid }}
fsGroup: {{ .Values.runtime.uid }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container-level security context of every container. */}}
{{- define "loyalty.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.runtime.uid }}
runAsGroup: {{ .Values.runtime.uid }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Fails unless a required Secret name is given, when requireSecrets is on. */}}
{{- define "loyalty.checkSecrets" -}}
{{- if .Values.requireSecrets -}}
{{- if not .Values.auth.existingSecret -}}
{{- fail "requireSecrets is true: set auth.existingSecret to the Secret with the <service>.callers and <service>.token keys (see charts/loyalty/README.md, \"Secrets\")" -}}
{{- end -}}
{{- if and .Values.services.identity.enabled (not .Values.services.identity.secrets.serverKey.existingSecret) -}}
{{- fail "requireSecrets is true: set services.identity.secrets.serverKey.existingSecret to the Secret with identity's server key (64 hex digits; see charts/loyalty/README.md, \"Secrets\")" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The data of a service's config ConfigMap (YAML), from its `files` values:
(dict "svc" $svc "table" <its row of loyalty.filesEnv> "name" "purchases").
*/}}
{{- define "loyalty.configMapData" -}}
{{- $data := dict -}}
{{- range $key, $content := (.svc.files | default dict) -}}
{{- if not (kindIs "invalid" $content) -}}
{{- $spec := index $.table $key -}}
{{- if not $spec -}}
{{- fail (printf "services.%s.files.%s is not a file the chart knows (see the files table in templates/_helpers.tpl)" $.name $key) -}}
{{- end -}}
{{- if eq $spec.format "json" -}}
{{- $_ := set $data $spec.file (toPrettyJson $content) -}}
{{- else -}}
{{- $_ := set $data $spec.file (toString $content) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toYaml $data -}}
{{- end -}}
