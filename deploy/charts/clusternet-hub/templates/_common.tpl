{{/*
Helpers shared by the four Clusternet charts: each chart's templates/_common.tpl is a link to this
file (`helm package` stores the file itself). They read the value names of the clusternet/charts
charts (nameOverride, fullnameOverride, commonLabels, commonAnnotations, image.*, resources,
nodeSelector, tolerations, affinity and the affinity presets, priorityClassName, hostNetwork,
extraArgs), so a values file written for those charts works here. With the default values nothing
is added to the objects of deploy/: empty values render nothing.
*/}}

{{/* The chart's name, or nameOverride. */}}
{{- define "clusternet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The name of the Deployment (and its `app` label): fullnameOverride, else the release name
when it contains the chart's name, else <release>-<name>. */}}
{{- define "clusternet.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "clusternet.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* serviceAccount.name, else the full name. */}}
{{- define "clusternet.serviceAccountName" -}}
{{- default (include "clusternet.fullname" .) ((.Values.serviceAccount | default dict).name) -}}
{{- end -}}

{{/* `labels:` and `annotations:` of an object's metadata, on new lines at column 2: its own
(dict "context" $ "labels" … "annotations" …, which win) and commonLabels / commonAnnotations.
Nothing when all are empty. */}}
{{- define "clusternet.metadata" -}}
{{- $ctx := .context -}}
{{- $labels := merge (dict) (.labels | default dict) ($ctx.Values.commonLabels | default dict) -}}
{{- $annotations := merge (dict) (.annotations | default dict) ($ctx.Values.commonAnnotations | default dict) -}}
{{- with $labels }}{{ printf "labels:\n%s" (tpl (toYaml .) $ctx | indent 2) | nindent 2 }}{{ end -}}
{{- with $annotations }}{{ printf "annotations:\n%s" (tpl (toYaml .) $ctx | indent 2) | nindent 2 }}{{ end -}}
{{- end -}}

{{/* `text` indented by `n` on a new line, or nothing when it is blank. */}}
{{- define "clusternet.block" -}}
{{- $n := .n -}}
{{- with trim .text }}{{ nindent $n . }}{{ end -}}
{{- end -}}

{{/* <registry>/<repository>:<tag> (or @<digest>); global.imageRegistry overrides the registry. */}}
{{- define "clusternet.image" -}}
{{- $registry := .Values.image.registry -}}
{{- with dig "imageRegistry" "" (.Values.global | default dict) }}{{ $registry = . }}{{ end -}}
{{- $ref := .Values.image.repository -}}
{{- if $registry }}{{ $ref = printf "%s/%s" $registry $ref }}{{ end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $ref .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $ref (toString (.Values.image.tag | default .Chart.AppVersion)) -}}
{{- end -}}
{{- end -}}

{{/* imagePullSecrets from image.pullSecrets and global.imagePullSecrets (names or {name: …}). */}}
{{- define "clusternet.imagePullSecrets" -}}
{{- $names := list -}}
{{- range concat (dig "imagePullSecrets" list (.Values.global | default dict)) (.Values.image.pullSecrets | default list) -}}
{{- if kindIs "map" . }}{{ $names = append $names .name }}{{ else }}{{ $names = append $names . }}{{ end -}}
{{- end -}}
{{- if $names }}
imagePullSecrets:
{{- range $names | uniq }}
  - name: {{ . | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* podAffinityPreset / podAntiAffinityPreset: soft or hard, over pods with the same `app`. */}}
{{- define "clusternet.podAffinityPreset" -}}
{{- if eq (toString .type) "soft" }}
preferredDuringSchedulingIgnoredDuringExecution:
  - weight: 1
    podAffinityTerm:
      labelSelector:
        matchLabels:
          app: {{ .app }}
      topologyKey: kubernetes.io/hostname
{{- else if eq (toString .type) "hard" }}
requiredDuringSchedulingIgnoredDuringExecution:
  - labelSelector:
      matchLabels:
        app: {{ .app }}
    topologyKey: kubernetes.io/hostname
{{- end }}
{{- end -}}

{{/* nodeAffinityPreset: soft or hard, nodes whose label `key` is one of `values`. */}}
{{- define "clusternet.nodeAffinityPreset" -}}
{{- $expressions := list (dict "key" .key "operator" "In" "values" (.values | default list)) -}}
{{- if eq (toString .type) "soft" }}
preferredDuringSchedulingIgnoredDuringExecution:
  - weight: 1
    preference:
      matchExpressions: {{- toYaml $expressions | nindent 8 }}
{{- else if eq (toString .type) "hard" }}
requiredDuringSchedulingIgnoredDuringExecution:
  nodeSelectorTerms:
    - matchExpressions: {{- toYaml $expressions | nindent 8 }}
{{- end }}
{{- end -}}

{{/* `affinity:`: the affinity value when set, else what the presets say (nothing by default). */}}
{{- define "clusternet.affinity" -}}
{{- if .Values.affinity }}
affinity: {{- tpl (toYaml .Values.affinity) $ | nindent 2 }}
{{- else -}}
{{- $app := include "clusternet.fullname" . -}}
{{- $node := .Values.nodeAffinityPreset | default dict -}}
{{- $affinity := dict -}}
{{- with include "clusternet.podAffinityPreset" (dict "type" .Values.podAffinityPreset "app" $app) | fromYaml }}{{ $_ := set $affinity "podAffinity" . }}{{ end -}}
{{- with include "clusternet.podAffinityPreset" (dict "type" .Values.podAntiAffinityPreset "app" $app) | fromYaml }}{{ $_ := set $affinity "podAntiAffinity" . }}{{ end -}}
{{- with include "clusternet.nodeAffinityPreset" (dict "type" $node.type "key" $node.key "values" $node.values) | fromYaml }}{{ $_ := set $affinity "nodeAffinity" . }}{{ end -}}
{{- with $affinity }}
affinity: {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The pod spec's placement fields: pull secrets, affinity, hostNetwork, nodeSelector,
priorityClassName, tolerations (each only when set). */}}
{{- define "clusternet.podPlacement" -}}
{{- include "clusternet.imagePullSecrets" . }}
{{- include "clusternet.affinity" . }}
{{- if .Values.hostNetwork }}
hostNetwork: true
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector: {{- tpl (toYaml .) $ | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . | quote }}
{{- end }}
{{- with .Values.tolerations }}
tolerations: {{- tpl (toYaml .) $ | nindent 2 }}
{{- end }}
{{- end -}}

{{/* `resources:` without the empty members (clusternet/charts' default is limits: {}, requests: {}). */}}
{{- define "clusternet.resources" -}}
{{- $resources := dict -}}
{{- range $key, $value := (.Values.resources | default dict) }}{{ if $value }}{{ $_ := set $resources $key $value }}{{ end }}{{ end -}}
{{- with $resources }}
resources: {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The container's `args`: (dict "context" $ "flags" (list (list "<flag>" <value>) …)), each
`--<flag>=<value>` in that order, a flag whose value is unset (null or "") left out (the binary's
own default), then extraArgs: `--<key>=<value>` each in key order, `--<key>` alone for a null or
"" value. A YAML list. */}}
{{- define "clusternet.args" -}}
{{- $args := list -}}
{{- range .flags -}}
{{- $value := index . 1 -}}
{{- if not (or (kindIs "invalid" $value) (eq (toString $value) "")) -}}
{{- $args = append $args (printf "--%s=%v" (index . 0) $value) -}}
{{- end -}}
{{- end -}}
{{- range $key, $value := (.context.Values.extraArgs | default dict) -}}
{{- if or (kindIs "invalid" $value) (eq (toString $value) "") -}}
{{- $args = append $args (printf "--%s" $key) -}}
{{- else -}}
{{- $args = append $args (printf "--%s=%v" $key $value) -}}
{{- end -}}
{{- end -}}
{{- toYaml $args -}}
{{- end -}}
