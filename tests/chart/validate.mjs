// Validates the output of `helm template` for one value set of tests/chart/values/.
//
//   node validate.mjs --set NAME --release RELEASE --namespace NS --chart-dir DIR
//                     [--args-out FILE] RENDERED.yaml
//
// Every object is checked against the Kubernetes OpenAPI schema (kubernetes-models; the
// ServiceMonitor with @kubernetes-models/prometheus-operator), and for fields the schema does not
// know (a typo is silently dropped by the API server, so it is an error here). Then the chart's
// promises are asserted: the kinds per value set, RBAC exactly as documented, the hardened
// securityContext, probes, preStop, Service ports, PodDisruptionBudget/HPA, the flags.
//
// The npm packages come from the tools cache (tests/chart/package-lock.json pins them):
// PORTICO_CHART_NODE_DIR names the directory holding their node_modules.
// Prints a line per failure, then "validate: N passed, M failed"; exits 1 on any failure.

import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";

// ---------------------------------------------------------------------------------------------
// Arguments, packages

function parseArgs(argv) {
  const args = { files: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith("--")) args[a.slice(2)] = argv[++i];
    else args.files.push(a);
  }
  for (const k of ["set", "release", "namespace", "chart-dir"]) {
    if (!args[k]) usage(`--${k} is required`);
  }
  if (args.files.length !== 1) usage("one rendered YAML file is required");
  return args;
}

function usage(message) {
  console.error(`validate.mjs: ${message}\nusage: node validate.mjs --set NAME --release RELEASE --namespace NS --chart-dir DIR RENDERED.yaml`);
  process.exit(2);
}

const args = parseArgs(process.argv.slice(2));
const nodeDir = process.env.PORTICO_CHART_NODE_DIR;
if (!nodeDir) usage("PORTICO_CHART_NODE_DIR (where the pinned npm packages are installed) is not set");
const require = createRequire(path.join(path.resolve(nodeDir), "package.json"));
const YAML = require("yaml");

// ---------------------------------------------------------------------------------------------
// Reporting

let passed = 0;
let failed = 0;

function fail(name, detail) {
  failed++;
  console.log(`FAIL [${args.set}] ${name}${detail ? `: ${detail}` : ""}`);
}

function check(name, ok, detail) {
  if (ok) passed++;
  else fail(name, detail);
  return ok;
}

function show(value) {
  return value === undefined ? "(absent)" : JSON.stringify(value);
}

function stable(value) {
  if (Array.isArray(value)) return value.map(stable);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, stable(value[k])]));
  }
  return value;
}

function checkEqual(name, expected, actual) {
  const e = JSON.stringify(stable(expected));
  const a = JSON.stringify(stable(actual));
  return check(name, e === a, `expected ${e}, got ${show(actual)}`);
}

function sameSet(name, expected, actual) {
  const e = new Set(expected);
  const a = new Set(actual);
  const missing = [...e].filter((x) => !a.has(x));
  const extra = [...a].filter((x) => !e.has(x));
  const detail = [
    missing.length ? `missing ${missing.join(", ")}` : "",
    extra.length ? `unexpected ${extra.join(", ")}` : "",
  ].filter(Boolean).join("; ");
  return check(name, !missing.length && !extra.length, detail);
}

// ---------------------------------------------------------------------------------------------
// What each value set must render. `release` and `namespace` come from the command line.

const chart = YAML.parse(fs.readFileSync(path.join(args["chart-dir"], "Chart.yaml"), "utf8"));
const release = args.release;
const namespace = args.namespace;
const fullname = release.includes("portico") ? release : `${release}-portico`;

const baseKinds = {
  ServiceAccount: 1, ClusterRole: 1, ClusterRoleBinding: 1, Role: 1, RoleBinding: 1,
  IngressClass: 1, Service: 2, Deployment: 1,
};
const base = {
  kinds: baseKinds,
  workload: "Deployment",
  replicas: 1,
  serviceType: "LoadBalancer",
  externalTrafficPolicy: "Cluster",
  nodePorts: null,
  pdb: null,
  hpa: null,
  serviceMonitor: false,
  defaultClass: false,
  watchNamespaces: [],
  ingressClass: "portico",
  controller: "portico.dev/ingress-controller",
  electionId: "portico-leader",
  electionNamespace: namespace,
  image: `portico:${chart.appVersion}`,
  version: chart.appVersion,
  preStopSeconds: 5,
  shutdownGraceSeconds: 30,
  startupProbe: false,
  hostPorts: false,
  args: {},
};

const expectations = {
  default: {
    ...base,
    kinds: { ...baseKinds, PodDisruptionBudget: 1 },
    replicas: 2,
    pdb: { maxUnavailable: 1 },
  },
  daemonset: {
    ...base,
    kinds: { ...baseKinds, Deployment: 0, DaemonSet: 1 },
    workload: "DaemonSet",
    replicas: undefined,
    externalTrafficPolicy: "Local",
    hostPorts: true,
  },
  "nodeport-hpa": {
    ...base,
    kinds: { ...baseKinds, PodDisruptionBudget: 1, HorizontalPodAutoscaler: 1 },
    replicas: undefined,
    serviceType: "NodePort",
    nodePorts: { http: 30080, https: 30443 },
    pdb: { minAvailable: 1 },
    hpa: { minReplicas: 2, maxReplicas: 6, cpu: 70, memory: 80 },
  },
  "watch-namespaces": {
    ...base,
    kinds: { ...baseKinds, Role: 4, RoleBinding: 4, PodDisruptionBudget: 1 },
    replicas: 2,
    pdb: { maxUnavailable: 1 },
    watchNamespaces: ["team-a", "team-b"],
    ingressClass: "edge",
    controller: "example.com/edge",
    electionId: "edge-leader",
    electionNamespace: "edge-system",
    args: { "log-level": "debug", "access-log": "off", workers: "4", "load-balance": "least-request" },
  },
  "servicemonitor-default-class": {
    ...base,
    kinds: { ...baseKinds, PodDisruptionBudget: 1, ServiceMonitor: 1 },
    replicas: 3,
    pdb: { maxUnavailable: 1 },
    serviceMonitor: true,
    defaultClass: true,
    image: "registry.example.com/portico:0.2.0",
    version: "0.2.0",
    preStopSeconds: 10,
    shutdownGraceSeconds: 20,
    startupProbe: true,
  },
};

const want = expectations[args.set];
if (!want) usage(`no expectations for value set "${args.set}" (known: ${Object.keys(expectations).join(", ")})`);

// The flags of `portico serve` (cluster mode and the common ones).
const knownFlags = new Set([
  "kubeconfig", "watch-namespace", "ingress-class", "controller-name", "publish-service",
  "publish-status-address", "update-status", "election-id", "election-namespace", "http-addr",
  "https-addr", "admin-addr", "workers", "shutdown-grace", "access-log", "log-level",
  "load-balance", "connect-timeout", "upstream-timeout", "idle-timeout", "request-header-timeout",
  "watch-idle-timeout",
]);

// ---------------------------------------------------------------------------------------------
// Parsing

const text = fs.readFileSync(args.files[0], "utf8");
const docs = YAML.parseAllDocuments(text, { uniqueKeys: true, strict: true });
const objects = [];
docs.forEach((doc, i) => {
  for (const e of doc.errors) fail(`YAML document ${i + 1}`, e.message);
  for (const w of doc.warnings) fail(`YAML document ${i + 1}`, w.message);
  const value = doc.toJS();
  if (value !== null && value !== undefined) objects.push(value);
});
check("the output holds objects", objects.length > 0, "helm template rendered nothing");

const id = (o) => `${o.kind}/${o.metadata?.namespace ? `${o.metadata.namespace}/` : ""}${o.metadata?.name}`;

// ---------------------------------------------------------------------------------------------
// Schema validation (kubernetes-models) and unknown fields (from the models' type declarations)

const clusterScoped = new Set(["ClusterRole", "ClusterRoleBinding", "IngressClass", "Namespace"]);

function modelModule(apiVersion, kind) {
  if (apiVersion.startsWith("monitoring.coreos.com/")) {
    return `@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`;
  }
  return `kubernetes-models/${apiVersion}/${kind}`;
}

// A minimal reader of the models' .d.ts files: interfaces, their members and member types.
const dtsCache = new Map();

function readDts(file) {
  if (dtsCache.has(file)) return dtsCache.get(file);
  const source = fs.readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\//g, "");
  const imports = new Map();
  for (const m of source.matchAll(/import\s*\{([^}]*)\}\s*from\s*"([^"]+)"/g)) {
    for (const part of m[1].split(",")) {
      const [orig, alias] = part.trim().split(/\s+as\s+/);
      if (orig) imports.set((alias || orig).trim(), { name: orig.trim(), from: m[2] });
    }
  }
  const interfaces = new Map();
  for (const m of source.matchAll(/export\s+interface\s+(\w+)[^{]*\{/g)) {
    const open = m.index + m[0].length - 1;
    interfaces.set(m[1], source.slice(open + 1, matchClose(source, open)));
  }
  const aliases = new Map();
  for (const m of source.matchAll(/export\s*\{([^}]*)\}/g)) {
    for (const part of m[1].split(",")) {
      const [orig, alias] = part.trim().split(/\s+as\s+/);
      if (alias) aliases.set(alias.trim(), orig.trim());
    }
  }
  const info = { file, imports, interfaces, aliases };
  dtsCache.set(file, info);
  return info;
}

function matchClose(s, open) {
  const pairs = { "{": "}", "<": ">", "(": ")", "[": "]" };
  const stack = [];
  for (let i = open; i < s.length; i++) {
    const c = s[i];
    if (c === '"') {
      i = s.indexOf('"', i + 1);
      continue;
    }
    if (pairs[c]) stack.push(pairs[c]);
    else if (c === "=" && s[i + 1] === ">") i++;
    else if (stack.length && c === stack[stack.length - 1]) {
      stack.pop();
      if (!stack.length) return i;
    }
  }
  throw new Error(`unbalanced declaration in ${s.slice(open, open + 80)}`);
}

// Splits "a; b; c" at depth 0 on `sep`.
function splitTop(s, sep) {
  const out = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '"') {
      i = s.indexOf('"', i + 1);
      continue;
    }
    if ("{<([".includes(c)) depth++;
    else if ("}>)]".includes(c) && !(c === ">" && s[i - 1] === "=")) depth--;
    else if (c === sep && depth === 0) {
      out.push(s.slice(start, i));
      start = i + 1;
    }
  }
  out.push(s.slice(start));
  return out.map((x) => x.trim()).filter(Boolean);
}

// A shape: {kind: "object", members: Map name -> () => shape} | {kind: "array", of} |
// {kind: "map", of} | {kind: "leaf"}.
const LEAF = { kind: "leaf" };

function membersOf(body, ctx) {
  const members = new Map();
  let indexType = null;
  for (const decl of splitTop(body, ";")) {
    const index = decl.match(/^\[\s*\w+\s*:\s*string\s*\]\s*:\s*([\s\S]+)$/);
    if (index) {
      indexType = index[1];
      continue;
    }
    const m = decl.match(/^"?([^"?:]+)"?\??\s*:\s*([\s\S]+)$/);
    if (!m) continue;
    const type = m[2];
    let cached;
    members.set(m[1], () => (cached ??= shapeOf(type, ctx)));
  }
  if (indexType !== null && members.size === 0) return { kind: "map", of: shapeOf(indexType, ctx) };
  return { kind: "object", members };
}

function shapeOf(type, ctx) {
  type = type.trim();
  const arr = type.match(/^Array<([\s\S]+)>$/);
  if (arr) return { kind: "array", of: shapeOf(arr[1], ctx) };
  if (type.endsWith("[]")) return { kind: "array", of: shapeOf(type.slice(0, -2), ctx) };
  if (type.startsWith("{")) return membersOf(type.slice(1, matchClose(type, 0)), ctx);
  if (/^\w+$/.test(type)) return namedShape(type, ctx);
  return LEAF; // unions, literals, primitives, indexed access types
}

function namedShape(name, info) {
  if (info.interfaces.has(name)) return membersOf(info.interfaces.get(name), info);
  const local = info.aliases.get(name);
  if (local && info.interfaces.has(local)) return membersOf(info.interfaces.get(local), info);
  const imported = info.imports.get(name);
  if (imported && !imported.from.startsWith("@kubernetes-models/base")) {
    const file = resolveDts(imported.from, info.file);
    if (file) return namedShape(imported.name, readDts(file));
  }
  return LEAF; // type aliases (Quantity, IntOrString, Time) and primitives
}

function resolveDts(spec, fromFile) {
  let js;
  try {
    js = spec.startsWith(".")
      ? path.resolve(path.dirname(fromFile), spec)
      : require.resolve(spec);
  } catch {
    return null;
  }
  for (const candidate of [js.replace(/\.(m?js)$/, ".d.ts"), `${js}.d.ts`, path.join(js, "index.d.ts")]) {
    if (fs.existsSync(candidate)) return candidate;
  }
  return null;
}

function unknownFields(value, shape, where, out) {
  if (value === null || value === undefined) return;
  if (shape.kind === "array" && Array.isArray(value)) {
    value.forEach((v, i) => unknownFields(v, shape.of, `${where}[${i}]`, out));
  } else if (shape.kind === "map" && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) unknownFields(v, shape.of, `${where}.${k}`, out);
  } else if (shape.kind === "object" && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) {
      const member = shape.members.get(k);
      if (!member) out.push(`${where}.${k} (known: ${[...shape.members.keys()].join(", ")})`);
      else unknownFields(v, member(), `${where}.${k}`, out);
    }
  }
}

const seen = new Set();
for (const o of objects) {
  const name = id(o);
  if (!check(`${name}: apiVersion, kind and metadata.name`, o.apiVersion && o.kind && o.metadata?.name,
    `got ${show({ apiVersion: o.apiVersion, kind: o.kind, name: o.metadata?.name })}`)) continue;
  check(`${name}: unique`, !seen.has(name), "rendered twice");
  seen.add(name);
  if (clusterScoped.has(o.kind)) {
    check(`${name}: cluster-scoped, no metadata.namespace`, o.metadata.namespace === undefined);
  } else {
    check(`${name}: metadata.namespace set`, typeof o.metadata.namespace === "string" && o.metadata.namespace !== "");
  }

  const module = modelModule(o.apiVersion, o.kind);
  let Model;
  try {
    Model = require(module)[o.kind];
  } catch {
    Model = undefined;
  }
  if (!check(`${name}: a known Kubernetes kind (${o.apiVersion})`, Model, `no model ${module}`)) continue;
  try {
    new Model(o).validate();
    passed++;
  } catch (e) {
    fail(`${name}: schema`, e.message);
  }
  const dts = require.resolve(module).replace(/\.js$/, ".d.ts");
  const unknown = [];
  unknownFields(o, namedShape(`I${o.kind}`, readDts(dts)), o.kind, unknown);
  check(`${name}: no unknown fields`, unknown.length === 0, unknown.join("; "));

  const labels = o.metadata.labels || {};
  checkEqual(`${name}: standard labels`, {
    "helm.sh/chart": `${chart.name}-${chart.version}`,
    "app.kubernetes.io/name": chart.name,
    "app.kubernetes.io/instance": release,
    "app.kubernetes.io/version": want.version,
    "app.kubernetes.io/managed-by": "Helm",
  }, Object.fromEntries(["helm.sh/chart", "app.kubernetes.io/name", "app.kubernetes.io/instance",
    "app.kubernetes.io/version", "app.kubernetes.io/managed-by"].map((k) => [k, labels[k]])));
}

// ---------------------------------------------------------------------------------------------
// Kinds

const counts = {};
for (const o of objects) counts[o.kind] = (counts[o.kind] || 0) + 1;
const expectedCounts = Object.fromEntries(Object.entries(want.kinds).filter(([, n]) => n > 0));
checkEqual("kinds rendered", expectedCounts, counts);

const byKind = (kind) => objects.filter((o) => o.kind === kind);
const find = (kind, name, ns) => objects.find((o) => o.kind === kind && o.metadata?.name === name &&
  (ns === undefined || o.metadata?.namespace === ns));

// ---------------------------------------------------------------------------------------------
// RBAC: the grants that bindings give the ServiceAccount, compared with the documented set.

const serviceAccount = byKind("ServiceAccount")[0];
const saName = serviceAccount?.metadata?.name;
check("ServiceAccount named after the release", saName === fullname, `got ${show(saName)}`);

for (const role of [...byKind("ClusterRole"), ...byKind("Role")]) {
  for (const [i, rule] of (role.rules || []).entries()) {
    const where = `${id(role)} rule ${i + 1}`;
    check(`${where}: no wildcard`, ![...(rule.apiGroups || []), ...(rule.resources || []), ...(rule.verbs || []),
      ...(rule.resourceNames || [])].some((x) => x.includes("*")), show(rule));
    check(`${where}: no nonResourceURLs`, rule.nonResourceURLs === undefined, show(rule.nonResourceURLs));
  }
}

const grants = [];
for (const binding of [...byKind("ClusterRoleBinding"), ...byKind("RoleBinding")]) {
  const bname = id(binding);
  checkEqual(`${bname}: subjects are the ServiceAccount`,
    [{ kind: "ServiceAccount", name: saName, namespace }], binding.subjects);
  const ref = binding.roleRef;
  const role = ref.kind === "ClusterRole"
    ? find("ClusterRole", ref.name)
    : find("Role", ref.name, binding.metadata.namespace);
  if (!check(`${bname}: roleRef ${ref.kind}/${ref.name} is rendered`, role)) continue;
  const scope = binding.kind === "ClusterRoleBinding" ? "cluster" : `namespace ${binding.metadata.namespace}`;
  for (const rule of role.rules || []) {
    for (const group of rule.apiGroups || []) {
      for (const resource of rule.resources || []) {
        for (const verb of rule.verbs || []) {
          const names = rule.resourceNames?.length ? rule.resourceNames : ["(any)"];
          for (const n of names) grants.push(`${scope}: ${group || "core"}/${resource} ${verb} ${n}`);
        }
      }
    }
  }
}
for (const role of [...byKind("ClusterRole"), ...byKind("Role")]) {
  const bound = [...byKind("ClusterRoleBinding"), ...byKind("RoleBinding")].some((b) =>
    b.roleRef.kind === role.kind && b.roleRef.name === role.metadata.name &&
    (role.kind === "ClusterRole" || b.metadata.namespace === role.metadata.namespace));
  check(`${id(role)}: bound to the ServiceAccount`, bound);
}

const expectedGrants = [];
const read = (scope, group, resource) =>
  ["get", "list", "watch"].forEach((v) => expectedGrants.push(`${scope}: ${group}/${resource} ${v} (any)`));
const namespacedScopes = want.watchNamespaces.length
  ? want.watchNamespaces.map((n) => `namespace ${n}`)
  : ["cluster"];
read("cluster", "networking.k8s.io", "ingressclasses");
for (const scope of namespacedScopes) {
  read(scope, "networking.k8s.io", "ingresses");
  read(scope, "core", "services");
  read(scope, "core", "secrets");
  read(scope, "discovery.k8s.io", "endpointslices");
  expectedGrants.push(`${scope}: networking.k8s.io/ingresses/status update (any)`);
}
if (want.watchNamespaces.length && !want.watchNamespaces.includes(namespace)) {
  // The published Service, outside the watched namespaces: portico GETs it by name.
  expectedGrants.push(`namespace ${namespace}: core/services get ${fullname}`);
}
const lease = `namespace ${want.electionNamespace}: coordination.k8s.io/leases`;
expectedGrants.push(`${lease} create (any)`, `${lease} get ${want.electionId}`, `${lease} update ${want.electionId}`);
sameSet("RBAC grants are exactly the documented ones", expectedGrants, grants);

const clusterRole = byKind("ClusterRole")[0];
const clusterResources = (clusterRole?.rules || []).flatMap((r) => r.resources || []);
sameSet("ClusterRole resources",
  want.watchNamespaces.length
    ? ["ingressclasses"]
    : ["ingressclasses", "ingresses", "ingresses/status", "services", "secrets", "endpointslices"],
  clusterResources);

// ---------------------------------------------------------------------------------------------
// The workload and its pod

const workload = byKind(want.workload)[0];
if (check(`a ${want.workload} is rendered`, workload)) {
  const wname = id(workload);
  check(`${wname}: named after the release`, workload.metadata.name === fullname, workload.metadata.name);
  const spec = workload.spec;
  const pod = spec.template;
  const podLabels = pod.metadata?.labels || {};
  const selector = spec.selector?.matchLabels || {};
  check(`${wname}: selector matches the pod labels`,
    Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => podLabels[k] === v),
    `selector ${show(selector)}, pod labels ${show(podLabels)}`);
  checkEqual(`${wname}: replicas`, want.replicas, spec.replicas);

  const ps = pod.spec;
  check(`${wname}: serviceAccountName`, ps.serviceAccountName === saName, show(ps.serviceAccountName));
  check(`${wname}: service-account token mounted`, ps.automountServiceAccountToken !== false);
  const psc = ps.securityContext || {};
  checkEqual(`${wname}: pod securityContext`, {
    runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: "RuntimeDefault",
  }, {
    runAsNonRoot: psc.runAsNonRoot, runAsUser: psc.runAsUser, runAsGroup: psc.runAsGroup,
    fsGroup: psc.fsGroup, seccompProfile: psc.seccompProfile?.type,
  });
  check(`${wname}: no host network/PID/IPC`, !ps.hostNetwork && !ps.hostPID && !ps.hostIPC);

  check(`${wname}: one container`, ps.containers?.length === 1, `${ps.containers?.length} containers`);
  const c = ps.containers?.[0] || {};
  check(`${wname}: image`, c.image === want.image, `expected ${want.image}, got ${show(c.image)}`);
  check(`${wname}: no command (the image's ENTRYPOINT portico serve --kube runs)`, c.command === undefined,
    show(c.command));
  const sc = c.securityContext || {};
  checkEqual(`${wname}: container securityContext`, {
    allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, drop: ["ALL"], add: undefined, privileged: undefined,
  }, {
    allowPrivilegeEscalation: sc.allowPrivilegeEscalation, readOnlyRootFilesystem: sc.readOnlyRootFilesystem,
    drop: sc.capabilities?.drop, add: sc.capabilities?.add, privileged: sc.privileged || undefined,
  });

  const ports = Object.fromEntries((c.ports || []).map((p) => [p.name, p]));
  checkEqual(`${wname}: container ports`, { http: 8080, https: 8443, admin: 9901 },
    Object.fromEntries(Object.entries(ports).map(([n, p]) => [n, p.containerPort])));
  checkEqual(`${wname}: host ports`, want.hostPorts ? { http: 80, https: 443 } : {},
    Object.fromEntries(Object.entries(ports).filter(([, p]) => p.hostPort).map(([n, p]) => [n, p.hostPort])));
  const portNumber = (p) => (typeof p === "string" ? ports[p]?.containerPort : p);

  const probe = (kind, expectedPath) => {
    const p = c[kind];
    if (!check(`${wname}: ${kind}`, p?.httpGet, show(p))) return;
    check(`${wname}: ${kind} path`, p.httpGet.path === expectedPath, `expected ${expectedPath}, got ${show(p.httpGet.path)}`);
    check(`${wname}: ${kind} on the admin port 9901`, portNumber(p.httpGet.port) === 9901, show(p.httpGet.port));
  };
  probe("livenessProbe", "/healthz");
  probe("readinessProbe", "/readyz");
  if (want.startupProbe) probe("startupProbe", "/healthz");
  else check(`${wname}: no startupProbe`, c.startupProbe === undefined);

  checkEqual(`${wname}: preStop sleeps ${want.preStopSeconds}s`,
    ["/bin/sleep", String(want.preStopSeconds)], c.lifecycle?.preStop?.exec?.command);

  const env = Object.fromEntries((c.env || []).map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath]));
  checkEqual(`${wname}: POD_NAME and POD_NAMESPACE from the downward API`,
    { POD_NAME: "metadata.name", POD_NAMESPACE: "metadata.namespace" },
    { POD_NAME: env.POD_NAME, POD_NAMESPACE: env.POD_NAMESPACE });

  if (want.hpa) {
    check(`${wname}: CPU and memory requests (the HPA's targets)`,
      c.resources?.requests?.cpu && c.resources?.requests?.memory, show(c.resources));
  } else {
    check(`${wname}: resource requests`, c.resources?.requests && Object.keys(c.resources.requests).length > 0,
      show(c.resources));
  }

  // Flags (and, for chart_test.sh to try them on the real binary, one a line in --args-out)
  const argv = c.args || [];
  if (args["args-out"]) fs.writeFileSync(args["args-out"], argv.map((a) => `${a}\n`).join(""));
  const flags = {};
  for (const a of argv) {
    const m = /^--([a-z-]+)=(.*)$/.exec(a);
    if (!check(`${wname}: argument ${show(a)} is --flag=value`, m)) continue;
    check(`${wname}: --${m[1]} is a portico serve flag`, knownFlags.has(m[1]));
    (flags[m[1]] ||= []).push(m[2]);
  }
  for (const [f, values] of Object.entries(flags)) {
    if (f !== "watch-namespace") check(`${wname}: --${f} given once`, values.length === 1, show(values));
  }
  const flag = (f) => flags[f]?.[0];
  const expectedFlags = {
    "ingress-class": want.ingressClass,
    "controller-name": want.controller,
    "publish-service": `${namespace}/${fullname}`,
    "update-status": "on",
    "election-id": want.electionId,
    "http-addr": "0.0.0.0:8080",
    "https-addr": "0.0.0.0:8443",
    "admin-addr": "0.0.0.0:9901",
    "shutdown-grace": `${want.shutdownGraceSeconds}s`,
    "access-log": "on",
    "log-level": "info",
    ...want.args,
  };
  if (want.electionNamespace !== namespace) expectedFlags["election-namespace"] = want.electionNamespace;
  for (const [f, v] of Object.entries(expectedFlags)) {
    check(`${wname}: --${f}=${v}`, flag(f) === v, `got ${show(flags[f])}`);
  }
  checkEqual(`${wname}: --watch-namespace`, want.watchNamespaces, flags["watch-namespace"] || []);
  const [pubNs, pubName] = (flag("publish-service") || "/").split("/");
  check(`${wname}: --publish-service names a rendered Service`, find("Service", pubName, pubNs),
    show(flag("publish-service")));

  const grace = ps.terminationGracePeriodSeconds;
  check(`${wname}: terminationGracePeriodSeconds > preStop + shutdown grace`,
    grace > want.preStopSeconds + want.shutdownGraceSeconds,
    `${show(grace)} <= ${want.preStopSeconds} + ${want.shutdownGraceSeconds}`);

  // Services
  const matchesPods = (sel) => sel && Object.keys(sel).length > 0 &&
    Object.entries(sel).every(([k, v]) => podLabels[k] === v);
  const svc = find("Service", fullname, namespace);
  if (check(`Service ${fullname} is rendered`, svc)) {
    check(`Service ${fullname}: selects the pods`, matchesPods(svc.spec.selector), show(svc.spec.selector));
    check(`Service ${fullname}: type`, svc.spec.type === want.serviceType,
      `expected ${want.serviceType}, got ${show(svc.spec.type)}`);
    check(`Service ${fullname}: externalTrafficPolicy`, svc.spec.externalTrafficPolicy === want.externalTrafficPolicy,
      `expected ${want.externalTrafficPolicy}, got ${show(svc.spec.externalTrafficPolicy)}`);
    checkEqual(`Service ${fullname}: ports (port -> container port)`,
      { http: "80->8080/TCP", https: "443->8443/TCP" },
      Object.fromEntries((svc.spec.ports || []).map((p) =>
        [p.name, `${p.port}->${portNumber(p.targetPort ?? p.port)}/${p.protocol || "TCP"}`])));
    checkEqual(`Service ${fullname}: nodePorts`, want.nodePorts || {},
      Object.fromEntries((svc.spec.ports || []).filter((p) => p.nodePort).map((p) => [p.name, p.nodePort])));
  }
  const metrics = find("Service", `${fullname}-metrics`, namespace);
  if (check(`Service ${fullname}-metrics is rendered`, metrics)) {
    check(`Service ${fullname}-metrics: ClusterIP`, (metrics.spec.type ?? "ClusterIP") === "ClusterIP",
      show(metrics.spec.type));
    check(`Service ${fullname}-metrics: selects the pods`, matchesPods(metrics.spec.selector));
    checkEqual(`Service ${fullname}-metrics: port`, [{ name: "metrics", port: 9901, target: 9901 }],
      (metrics.spec.ports || []).map((p) => ({ name: p.name, port: p.port, target: portNumber(p.targetPort ?? p.port) })));
  }

  // PodDisruptionBudget
  const pdb = byKind("PodDisruptionBudget")[0];
  if (want.pdb) {
    if (check("PodDisruptionBudget is rendered", pdb)) {
      check("PodDisruptionBudget selects the pods", matchesPods(pdb.spec.selector?.matchLabels));
      checkEqual("PodDisruptionBudget budget", want.pdb,
        Object.fromEntries(Object.entries({ minAvailable: pdb.spec.minAvailable, maxUnavailable: pdb.spec.maxUnavailable })
          .filter(([, v]) => v !== undefined)));
    }
  } else {
    check("no PodDisruptionBudget", !pdb);
  }

  // HorizontalPodAutoscaler
  const hpa = byKind("HorizontalPodAutoscaler")[0];
  if (want.hpa) {
    if (check("HorizontalPodAutoscaler is rendered", hpa)) {
      checkEqual("HorizontalPodAutoscaler targets the Deployment",
        { apiVersion: "apps/v1", kind: "Deployment", name: fullname }, hpa.spec.scaleTargetRef);
      checkEqual("HorizontalPodAutoscaler replicas and targets", want.hpa, {
        minReplicas: hpa.spec.minReplicas,
        maxReplicas: hpa.spec.maxReplicas,
        ...Object.fromEntries((hpa.spec.metrics || []).map((m) =>
          [m.resource?.name, m.resource?.target?.type === "Utilization" ? m.resource.target.averageUtilization : m])),
      });
    }
  } else {
    check("no HorizontalPodAutoscaler", !hpa);
  }

  // ServiceMonitor
  const sm = byKind("ServiceMonitor")[0];
  if (want.serviceMonitor) {
    if (check("ServiceMonitor is rendered", sm) && metrics) {
      const ep = sm.spec.endpoints?.[0] || {};
      check("ServiceMonitor scrapes the metrics port", (metrics.spec.ports || []).some((p) => p.name === ep.port),
        show(ep.port));
      check("ServiceMonitor path /metrics", ep.path === "/metrics", show(ep.path));
      const sel = sm.spec.selector?.matchLabels || {};
      const selects = (s) => Object.entries(sel).every(([k, v]) => s.metadata.labels?.[k] === v);
      check("ServiceMonitor selects the metrics Service", Object.keys(sel).length > 0 && selects(metrics), show(sel));
      check("ServiceMonitor selects no other Service",
        byKind("Service").filter((s) => s !== metrics).every((s) => !selects(s)));
      check("ServiceMonitor looks in the release namespace",
        (sm.spec.namespaceSelector?.matchNames || [sm.metadata.namespace]).includes(namespace));
    }
  } else {
    check("no ServiceMonitor", !sm);
  }
}

// ---------------------------------------------------------------------------------------------
// IngressClass

const ingressClass = byKind("IngressClass")[0];
if (check("IngressClass is rendered", ingressClass)) {
  check("IngressClass name", ingressClass.metadata.name === want.ingressClass, show(ingressClass.metadata.name));
  check("IngressClass controller", ingressClass.spec?.controller === want.controller, show(ingressClass.spec?.controller));
  checkEqual("IngressClass is-default-class", want.defaultClass ? "true" : undefined,
    ingressClass.metadata.annotations?.["ingressclass.kubernetes.io/is-default-class"]);
}

console.log(`validate: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
