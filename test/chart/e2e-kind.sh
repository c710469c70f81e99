#!/usr/bin/env bash
# `make e2e-kind`: the chart on a real cluster. Loads the images `make images` built into the kind
# cluster `make kind-up` created, installs the chart, waits for the operator to be Ready and the
# injector's caBundle to be set, then checks the story end to end: an opted-in namespace, an
# endpoint turning Ready, a pod getting its sidecar, the sidecar serving the operator's config,
# and the operator's metrics. Needs Docker; leaves the release installed to explore.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cluster=${KIND_CLUSTER:-hookgate}
registry=${IMAGE_REGISTRY:-ghcr.io/hookgate}
tag=${IMAGE_TAG:?IMAGE_TAG is not set (make e2e-kind sets it from package.json)}
cache=${HOOKGATE_CACHE_DIR:-$repo/.cache}
kind=$(bash "$here/tool.sh" kind)
helm=$(bash "$here/tool.sh" helm)
# kubectl: $KUBECTL, else the one built with the test control plane, else the one on PATH.
kubectl=${KUBECTL:-$cache/controlplane/current/kubectl}
[ -x "$kubectl" ] || kubectl=$(command -v kubectl || true)
[ -n "$kubectl" ] || { echo "kubectl not found: install it, or run 'make controlplane'" >&2; exit 1; }
context=kind-$cluster
ns=hookgate-system
app=hookgate-e2e
k() { "$kubectl" --context "$context" "$@"; }
step() { printf '\n\033[1m▶ %s\033[0m\n' "$*"; }
on_fail() {
  echo "e2e-kind failed. Operator pods, events and logs:" >&2
  k -n "$ns" get pods -o wide >&2 || true
  k -n "$ns" get events --sort-by=.lastTimestamp >&2 || true
  k -n "$ns" logs -l app.kubernetes.io/component=operator --tail=50 --prefix >&2 || true
}
trap on_fail ERR

step "Load $registry/{operator,sidecar}:$tag into kind cluster $cluster"
for image in operator sidecar; do
  "$kind" load docker-image --name "$cluster" "$registry/$image:$tag"
done

step "Install the chart"
"$helm" upgrade --install hookgate "$repo/charts/hookgate" \
  --kube-context "$context" --namespace "$ns" --create-namespace \
  --set image.repository="$registry/operator" --set image.tag="$tag" --set image.pullPolicy=Never \
  --set sidecar.image.repository="$registry/sidecar" --set sidecar.image.tag="$tag" \
  --wait --timeout 5m
k -n "$ns" rollout status deployment/hookgate-operator --timeout=180s

step "Wait for the injector's certificate (the operator patches caBundle)"
ca=""
for _ in $(seq 60); do
  ca=$(k get mutatingwebhookconfiguration hookgate-sidecar-injector \
    -o jsonpath='{.webhooks[0].clientConfig.caBundle}')
  [ -n "$ca" ] && break
  sleep 2
done
[ -n "$ca" ] || { echo "caBundle of hookgate-sidecar-injector was never set" >&2; false; }
k -n "$ns" get secret hookgate-webhook-tls -o jsonpath='{.type}{"\n"}'

step "An opted-in namespace, a signing Secret and an endpoint"
k create namespace "$app" --dry-run=client -o yaml | k apply -f -
k label namespace "$app" hookgate.io/injection=enabled --overwrite
k -n "$app" apply -f - <<'YAML'
apiVersion: v1
kind: Secret
metadata:
  name: orders-signing
stringData:
  secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
---
apiVersion: hookgate.io/v1alpha1
kind: WebhookEndpoint
metadata:
  name: acme-orders
spec:
  direction: Egress
  url: https://hooks.acme.example/orders
  signing:
    secretRef:
      name: orders-signing
YAML
k -n "$app" wait --for=condition=Ready webhookendpoint/acme-orders --timeout=120s
k -n "$app" get whe,whp
k -n "$app" get configmap hookgate-sidecar-config

step "Injection, first as a server-side dry run (the webhook runs, nothing is stored)"
names=$(k -n "$app" run smoke --image=registry.k8s.io/pause:3.10 --restart=Never \
  --annotations=hookgate.io/inject=true --dry-run=server \
  -o jsonpath='{.spec.initContainers[*].name} {.spec.containers[*].name}')
echo "containers: $names"
case " $names " in
  *" hookgate-proxy "*) ;;
  *) echo "no hookgate-proxy container was injected" >&2; false ;;
esac

step "A real pod gets its sidecar, which serves the operator's config"
k -n "$app" apply -f - <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  replicas: 1
  selector:
    matchLabels: { app: app }
  template:
    metadata:
      labels: { app: app }
      annotations: { hookgate.io/inject: 'true' }
    spec:
      containers:
        - name: app
          image: registry.k8s.io/pause:3.10
YAML
k -n "$app" rollout status deployment/app --timeout=180s
config=$(k -n "$app" exec deployment/app -c hookgate-proxy -- \
  node -e "fetch('http://127.0.0.1:15020/config').then((r) => r.text()).then(console.log)")
echo "$config"
case "$config" in
  *'"acme-orders"'*) ;;
  *) echo "the sidecar's /config does not list acme-orders" >&2; false ;;
esac

step "The operator's metrics"
k get --raw "/api/v1/namespaces/$ns/services/hookgate-operator-metrics:metrics/proxy/metrics" |
  grep -E '^hookgate_operator_(reconciles_total|leader)'

k delete namespace "$app" --wait=false
printf '\n\033[32m\033[1me2e-kind passed.\033[0m The release stays installed (context %s); make kind-down removes the cluster.\n' "$context"
