#!/usr/bin/env python3
"""A Kubernetes API server stand-in for tests, in Python 3 standard library only.

It speaks the list/watch protocol of kube-apiserver over real HTTPS (see tests/kube/README.md):
discovery, get/list/watch/create/update/patch/delete for the kinds an ingress controller uses,
resourceVersions from one global counter with an event history (compaction -> 410 Expired),
limit/continue pagination over consistent snapshots, label and field selectors, watch
bookmarks, server-side Tables for kubectl, token and client-certificate authentication, and
Status objects as the real server forms them. A plain-HTTP control API lets tests change the
cluster and inject faults.
"""

import argparse
import base64
import bisect
import copy
import datetime
import gzip
import hashlib
import http.server
import json
import os
import random
import re
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

KUBE_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.4",
    "gitCommit": "59526cd4867447956156ae3a602fcbac10a2c335",
    "gitTreeState": "clean",
    "buildDate": "2025-04-22T16:02:27Z",
    "goVersion": "go1.23.6",
    "compiler": "gc",
    "platform": "linux/amd64",
}
DEFAULT_USER = "system:serviceaccount:portico-system:portico"
SEED_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease", "portico-system"]
GZIP_THRESHOLD = 128 * 1024  # kube-apiserver compresses responses of 128 KiB and more
TOO_LARGE_RV_WAIT = 3.0  # seconds the real server waits for a future resourceVersion


# ----------------------------------------------------------------------------------------------
# Resources
# ----------------------------------------------------------------------------------------------

class Res:
    """One served resource (group/version/plural) and how the real server treats it."""

    def __init__(self, group, version, plural, kind, namespaced, singular=None, short=(),
                 status=False, generation=None, fields=(), field_err="default",
                 delete_returns_object=False, create_on_update=False, categories=()):
        self.group = group
        self.version = version
        self.plural = plural
        self.kind = kind
        self.namespaced = namespaced
        self.singular = singular or kind.lower()
        self.short = list(short)
        self.status = status  # has a status subresource
        self.generation = generation  # None, "spec" (bumped on spec change) or "all"
        self.fields = {"metadata.name", "metadata.namespace"} | set(fields)
        self.field_err = field_err  # how an unsupported field selector is reported
        self.delete_returns_object = delete_returns_object
        self.create_on_update = create_on_update
        self.categories = list(categories)
        self.gv = f"{group}/{version}" if group else version
        self.id = f"{self.gv}/{plural}"
        self.qualified = f"{plural}.{group}" if group else plural
        self.list_kind = kind + "List"
        self.group_kind = f"{kind}.{group}" if group else kind

    def details(self, name=None, **extra):
        d = {}
        if name is not None:
            d["name"] = name
        if self.group:
            d["group"] = self.group
        d["kind"] = self.plural
        d.update(extra)
        return d

    def field_error(self, label):
        if self.field_err == "plain":
            return f"field label not supported: {label}"
        if self.field_err == "for":
            return f'field label "{label}" not supported for "{self.kind}"'
        return f'"{label}" is not a known field selector: only "metadata.name", "metadata.namespace"'


POD_FIELDS = ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
              "spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs",
              "status.nominatedNodeName")
EVENT_FIELDS = ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type")

RESOURCES = [
    Res("", "v1", "namespaces", "Namespace", False, short=("ns",), status=True,
        fields=("status.phase",), field_err="plain", delete_returns_object=True),
    Res("", "v1", "services", "Service", True, short=("svc",), status=True,
        fields=("spec.clusterIP", "spec.type"), field_err="plain", delete_returns_object=True,
        categories=("all",)),
    Res("", "v1", "secrets", "Secret", True, fields=("type",), field_err="plain"),
    Res("", "v1", "configmaps", "ConfigMap", True, short=("cm",), field_err="for"),
    Res("", "v1", "endpoints", "Endpoints", True, singular="endpoints", short=("ep",),
        field_err="for", create_on_update=True),
    Res("", "v1", "pods", "Pod", True, short=("po",), status=True, fields=POD_FIELDS,
        field_err="plain", delete_returns_object=True, categories=("all",)),
    Res("", "v1", "events", "Event", True, short=("ev",), fields=EVENT_FIELDS, field_err="plain"),
    Res("networking.k8s.io", "v1", "ingresses", "Ingress", True, short=("ing",), status=True,
        generation="spec"),
    Res("networking.k8s.io", "v1", "ingressclasses", "IngressClass", False, generation="spec"),
    Res("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True, generation="all"),
    Res("coordination.k8s.io", "v1", "leases", "Lease", True, create_on_update=True),
    Res("events.k8s.io", "v1", "events", "Event", True, short=("ev",)),
]
RES_BY_GV_PLURAL = {(r.gv, r.plural): r for r in RESOURCES}
RES_BY_GV_KIND = {(r.gv, r.kind): r for r in RESOURCES}
GROUP_VERSIONS = []
for _r in RESOURCES:
    if _r.gv not in GROUP_VERSIONS:
        GROUP_VERSIONS.append(_r.gv)


def find_resource(spec):
    """A resource from 'ingresses', 'ing', 'Ingress', 'networking.k8s.io/v1/ingresses' or
    'ingresses.networking.k8s.io'."""
    if spec is None:
        return None
    for r in RESOURCES:
        if spec in (r.id, r.qualified, r.gv + "/" + r.kind):
            return r
    for r in RESOURCES:
        if spec in (r.plural, r.kind, r.singular) or spec in r.short:
            return r
    return None


# ----------------------------------------------------------------------------------------------
# Small helpers
# ----------------------------------------------------------------------------------------------

def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(s):
    try:
        return datetime.datetime.strptime(s[:19], "%Y-%m-%dT%H:%M:%S").replace(
            tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return None


def clone(obj):
    return json.loads(json.dumps(obj))


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def human_duration(seconds):
    """apimachinery's duration.HumanDuration, as kubectl prints an AGE."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def age_of(obj):
    ts = parse_rfc3339((obj.get("metadata") or {}).get("creationTimestamp"))
    if ts is None:
        return "<unknown>"
    return human_duration((datetime.datetime.now(datetime.timezone.utc) - ts).total_seconds())


def status_obj(code, reason, message, details=None, list_meta=None):
    s = {"kind": "Status", "apiVersion": "v1", "metadata": list_meta or {}, "status": "Failure",
         "message": message}
    if reason:
        s["reason"] = reason
    if details is not None:
        s["details"] = details
    s["code"] = code
    return s


class ApiError(Exception):
    def __init__(self, status, headers=None):
        super().__init__(status.get("message"))
        self.status = status
        self.code = status["code"]
        self.headers = headers or {}


def bad_request(message):
    return ApiError(status_obj(400, "BadRequest", message))


def not_found(res, name):
    return ApiError(status_obj(404, "NotFound", f'{res.qualified} "{name}" not found',
                               res.details(name)))


def namespace_not_found(ns):
    return ApiError(status_obj(404, "NotFound", f'namespaces "{ns}" not found',
                               {"name": ns, "kind": "namespaces"}))


def generic_not_found():
    return ApiError(status_obj(404, "NotFound", "the server could not find the requested resource",
                               {}))


def method_not_allowed():
    return ApiError(status_obj(405, "MethodNotAllowed",
                               "the server does not allow this method on the requested resource",
                               {}))


def conflict(res, name, why="the object has been modified; please apply your changes to the "
                            "latest version and try again"):
    return ApiError(status_obj(409, "Conflict",
                               f'Operation cannot be fulfilled on {res.qualified} "{name}": {why}',
                               res.details(name)))


def already_exists(res, name):
    return ApiError(status_obj(409, "AlreadyExists", f'{res.qualified} "{name}" already exists',
                               res.details(name)))


def expired(message, list_meta=None):
    return ApiError(status_obj(410, "Expired", message, list_meta=list_meta))


def too_large_rv(requested, current):
    return ApiError(status_obj(
        504, "Timeout", f"Too large resource version: {requested}, current: {current}",
        {"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
         "retryAfterSeconds": 1}))


def invalid(group_kind, name, causes, details_group="", details_kind=""):
    """causes: [(reason, field, message)] -> 422 like field.ErrorList.ToAggregate()."""
    texts = [f"{field}: {msg}" for _, field, msg in causes]
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    details = {"name": name}
    if details_group:
        details["group"] = details_group
    details["kind"] = details_kind
    details["causes"] = [{"reason": r, "message": m, "field": f} for r, f, m in causes]
    return ApiError(status_obj(422, "Invalid", f'{group_kind} "{name}" is invalid: {joined}',
                               details))


def invalid_obj(res, name, causes):
    return invalid(res.group_kind, name, causes, res.group, res.kind)


def invalid_list_options(field, message):
    return invalid("ListOptions.meta.k8s.io", "", [("FieldValueForbidden", field, message)],
                   "meta.k8s.io", "ListOptions")


REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
           405: "MethodNotAllowed", 406: "NotAcceptable", 409: "Conflict", 410: "Expired",
           413: "RequestEntityTooLarge", 415: "UnsupportedMediaType", 422: "Invalid",
           429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable",
           504: "Timeout"}
MESSAGES = {
    429: "Too many requests, please try again later.",
    500: "Internal error occurred: injected failure",
    503: "the server is currently unable to handle the request",
    504: "the server was unable to return a response in the time allotted, but may still be "
         "processing the request",
}


# ----------------------------------------------------------------------------------------------
# Selectors
# ----------------------------------------------------------------------------------------------

_QNAME = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)"
_PREFIX = r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)"
LABEL_KEY_RE = re.compile(rf"^({_PREFIX}/)?{_QNAME}$")
LABEL_VALUE_RE = re.compile(rf"^({_QNAME})?$")
KEYTOK = r"[^\s!=<>(),]+"


def _split_top(s):
    parts, depth, cur = [], 0, []
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def _check_key(key):
    if len(key.split("/")[-1]) > 63 or not LABEL_KEY_RE.match(key):
        raise bad_request(
            f'unable to parse requirement: <nil>: Invalid value: "{key}": name part must consist '
            "of alphanumeric characters, '-', '_' or '.', and must start and end with an "
            "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
            "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")


def _check_value(key, value):
    if len(value) > 63 or not LABEL_VALUE_RE.match(value):
        raise bad_request(
            f'unable to parse requirement: values[0][{key}]: Invalid value: "{value}": a valid '
            "label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
            "and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
            "'my_value',  or '12345', regex used for validation is "
            "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")


def parse_label_selector(s):
    """labels.Parse: a=b, a==b, a!=b, a in (x,y), a notin (x,y), a, !a, a>1, a<1."""
    reqs = []
    if s is None or not s.strip():
        return reqs
    for part in _split_top(s):
        p = part.strip()
        if not p:
            raise bad_request(f"found '', expected: identifier in selector \"{s}\"")
        m = re.fullmatch(rf"!\s*({KEYTOK})", p)
        if m:
            _check_key(m.group(1))
            reqs.append((m.group(1), "!", []))
            continue
        m = re.fullmatch(rf"({KEYTOK})\s+(in|notin)\s*\(([^()]*)\)", p)
        if m:
            vals = [v.strip() for v in m.group(3).split(",")] if m.group(3).strip() else []
            _check_key(m.group(1))
            if not vals:
                raise bad_request(
                    f"unable to parse requirement: values: Invalid value: []string{{}}: for 'in', "
                    "'notin' operators, values set can't be empty")
            for v in vals:
                _check_value(m.group(1), v)
            reqs.append((m.group(1), m.group(2), vals))
            continue
        m = re.fullmatch(rf"({KEYTOK})\s*(==|=|!=)\s*([^\s!=<>(),]*)", p)
        if m:
            _check_key(m.group(1))
            _check_value(m.group(1), m.group(3))
            reqs.append((m.group(1), "!=" if m.group(2) == "!=" else "=", [m.group(3)]))
            continue
        m = re.fullmatch(rf"({KEYTOK})\s*(>|<)\s*(-?\d+)", p)
        if m:
            _check_key(m.group(1))
            reqs.append((m.group(1), m.group(2), [m.group(3)]))
            continue
        m = re.fullmatch(rf"({KEYTOK})", p)
        if m:
            _check_key(m.group(1))
            reqs.append((m.group(1), "exists", []))
            continue
        raise bad_request(f"unable to parse requirement: found '{p}', expected: "
                          "in, notin, =, ==, !=, gt, lt")
    return reqs


def labels_match(reqs, labels):
    labels = labels or {}
    for key, op, vals in reqs:
        has = key in labels
        v = labels.get(key)
        if op == "=":
            ok = has and v == vals[0]
        elif op == "!=":
            ok = not has or v != vals[0]
        elif op == "in":
            ok = has and v in vals
        elif op == "notin":
            ok = not has or v not in vals
        elif op == "exists":
            ok = has
        elif op == "!":
            ok = not has
        else:
            try:
                n = int(v)
            except (TypeError, ValueError):
                return False
            ok = n > int(vals[0]) if op == ">" else n < int(vals[0])
        if not ok:
            return False
    return True


def _split_unescaped(s, sep):
    parts, cur, i = [], [], 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s):
            cur.append(s[i:i + 2])
            i += 2
            continue
        if s[i] == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(s[i])
        i += 1
    parts.append("".join(cur))
    return parts


def _unescape(s):
    return re.sub(r"\\(.)", r"\1", s)


def parse_field_selector(res, s):
    """fields.ParseSelector, then the resource's field label conversion."""
    terms = []
    if s is None or not s.strip():
        return terms
    for term in _split_unescaped(s, ","):
        if not term:
            continue
        m = None
        for i in range(len(term)):
            if term[i] == "\\":
                continue
            if i > 0 and term[i - 1] == "\\":
                continue
            for op in ("!=", "==", "="):
                if term.startswith(op, i):
                    m = (term[:i], op, term[i + len(op):])
                    break
            if m:
                break
        if m is None:
            raise bad_request(f"invalid selector: '{s}'; can't understand '{term}'")
        label, op, value = _unescape(m[0]).strip(), m[1], _unescape(m[2])
        if label not in res.fields:
            raise bad_request(res.field_error(label))
        terms.append((label, "!=" if op == "!=" else "=", value))
    return terms


def field_value(obj, label):
    cur = obj
    for part in label.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    if isinstance(cur, list):  # status.podIPs
        return ",".join(str(x.get("ip", x)) if isinstance(x, dict) else str(x) for x in cur)
    if isinstance(cur, dict):
        if label == "source":  # core Event source: "component"
            return cur.get("component", "")
        return ""
    return str(cur)


def fields_match(terms, obj):
    for label, op, value in terms:
        v = field_value(obj, label)
        if (v == value) != (op == "="):
            return False
    return True


# ----------------------------------------------------------------------------------------------
# Patches: JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic merge patch
# ----------------------------------------------------------------------------------------------

def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return clone(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f"the server rejected our request due to an error in our request: "
                          f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _resolve(doc, parts, create=False):
    cur = doc
    for p in parts:
        if isinstance(cur, dict):
            if p not in cur:
                raise KeyError(p)
            cur = cur[p]
        elif isinstance(cur, list):
            cur = cur[int(p)]
        else:
            raise KeyError(p)
    return cur


def json_patch(doc, ops):
    doc = clone(doc)
    if not isinstance(ops, list):
        raise bad_request("the server rejected our request due to an error in our request")
    try:
        for op in ops:
            kind = op.get("op")
            parts = _pointer(op.get("path", ""))
            if kind == "test":
                if _resolve(doc, parts) != op.get("value"):
                    raise ApiError(status_obj(422, "Invalid",
                                              f"the server rejected our request due to an error "
                                              f"in our request: testing value {op.get('path')} "
                                              f"failed"))
                continue
            if kind in ("move", "copy"):
                src = _pointer(op.get("from", ""))
                value = clone(_resolve(doc, src))
                if kind == "move":
                    parent = _resolve(doc, src[:-1])
                    if isinstance(parent, list):
                        parent.pop(int(src[-1]))
                    else:
                        del parent[src[-1]]
                kind, op = "add", {"value": value}
            if not parts:
                if kind in ("add", "replace"):
                    doc = clone(op.get("value"))
                    continue
                raise bad_request("cannot remove the document root")
            parent = _resolve(doc, parts[:-1])
            last = parts[-1]
            if kind == "add":
                if isinstance(parent, list):
                    if last == "-":
                        parent.append(clone(op.get("value")))
                    else:
                        parent.insert(int(last), clone(op.get("value")))
                else:
                    parent[last] = clone(op.get("value"))
            elif kind == "replace":
                if isinstance(parent, list):
                    parent[int(last)] = clone(op.get("value"))
                else:
                    if last not in parent:
                        raise KeyError(last)
                    parent[last] = clone(op.get("value"))
            elif kind == "remove":
                if isinstance(parent, list):
                    parent.pop(int(last))
                else:
                    del parent[last]
            else:
                raise bad_request(f"Unexpected kind: {kind}")
    except (KeyError, IndexError, ValueError, TypeError) as e:
        raise ApiError(status_obj(422, "Invalid",
                                  f"the server rejected our request due to an error in our "
                                  f"request: jsonpatch: path not found: {e}")) from None
    return doc


# Lists with a patch merge key (patchStrategy:"merge"), by kind and field path; any other list
# is replaced by a strategic merge patch, as for the real types.
SMP_MERGE = {
    ("*", ("metadata", "ownerReferences")): "uid",
    ("*", ("metadata", "finalizers")): "",  # a set of primitives
    ("*", ("status", "conditions")): "type",
    ("Service", ("spec", "ports")): "port",
    ("Pod", ("spec", "containers")): "name",
    ("Pod", ("spec", "initContainers")): "name",
    ("Pod", ("spec", "ephemeralContainers")): "name",
    ("Pod", ("spec", "volumes")): "name",
    ("Pod", ("spec", "imagePullSecrets")): "name",
    ("Pod", ("spec", "hostAliases")): "ip",
    ("Pod", ("spec", "containers", "ports")): "containerPort",
    ("Pod", ("spec", "containers", "env")): "name",
    ("Pod", ("spec", "containers", "volumeMounts")): "mountPath",
    ("Pod", ("spec", "initContainers", "env")): "name",
    ("Pod", ("spec", "initContainers", "volumeMounts")): "mountPath",
    ("Endpoints", ("subsets",)): None,
}


def _merge_key(kind, path):
    for k in ((kind, path), ("*", path)):
        if k in SMP_MERGE:
            return True, SMP_MERGE[k]
    return False, None


def _strip_directives(v):
    if isinstance(v, dict):
        return {k: _strip_directives(x) for k, x in v.items() if not k.startswith("$")}
    if isinstance(v, list):
        return [_strip_directives(x) for x in v if not (isinstance(x, dict) and "$patch" in x)]
    return clone(v)


def strategic_merge(kind, orig, patch, path=()):
    if not isinstance(patch, dict):
        return clone(patch)
    if not isinstance(orig, dict):
        orig = {}
    directive = patch.get("$patch")
    if directive == "replace":
        return _strip_directives(patch)
    result = dict(orig)
    orders = {}
    for k, v in patch.items():
        if k.startswith("$setElementOrder/"):
            orders[k.split("/", 1)[1]] = v
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            field = k.split("/", 1)[1]
            if isinstance(result.get(field), list):
                result[field] = [x for x in result[field] if x not in (v or [])]
            continue
        if k.startswith("$"):
            continue
        if v is None:
            result.pop(k, None)
            continue
        sub = path + (k,)
        if isinstance(v, dict):
            if v.get("$patch") == "delete":
                result.pop(k, None)
            else:
                result[k] = strategic_merge(kind, result.get(k), v, sub)
            continue
        if isinstance(v, list):
            is_merge, key = _merge_key(kind, sub)
            if is_merge and key is not None:
                result[k] = _merge_list(kind, result.get(k) or [], v, key, sub)
            else:
                result[k] = _strip_directives(v)
            continue
        result[k] = v
    for field, order in orders.items():
        lst = result.get(field)
        if not isinstance(lst, list):
            continue
        _, key = _merge_key(kind, path + (field,))

        def ident(x, key=key):
            return x.get(key) if (key and isinstance(x, dict)) else dumps(x)

        want = [ident(o) for o in order]
        pos = {w: i for i, w in enumerate(want)}
        result[field] = sorted(lst, key=lambda x: pos.get(ident(x), len(want)))
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_list(kind, orig, patch, key, path):
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return _strip_directives(patch)
    if key == "":  # set of primitives
        out = list(orig)
        for p in patch:
            if p not in out:
                out.append(clone(p))
        return out
    out = [clone(x) for x in orig]
    for p in patch:
        if not isinstance(p, dict):
            continue
        idx = next((i for i, x in enumerate(out)
                    if isinstance(x, dict) and x.get(key) == p.get(key)), None)
        if p.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            out.append(_strip_directives(p))
        else:
            out[idx] = strategic_merge(kind, out[idx], p, path)
    return out


# ----------------------------------------------------------------------------------------------
# Server-side printing (Tables for kubectl get)
# ----------------------------------------------------------------------------------------------

NAME_COL = ("Name", "string", "name", "Name must be unique within a namespace.", 0)
AGE_COL = ("Age", "string", "", "CreationTimestamp is a timestamp representing the server time "
                                "when this object was created.", 0)


def _col(name, desc="", priority=0, typ="string", fmt=""):
    return (name, typ, fmt, desc, priority)


def _ingress_row(o):
    spec, hosts = o.get("spec") or {}, []
    for rule in spec.get("rules") or []:
        hosts.append(rule.get("host") or "*")
    if len(hosts) > 4:
        hosts = hosts[:4] + [f"+ {len(hosts) - 4} more..."]
    lb = ((o.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    addrs = [x.get("ip") or x.get("hostname") or "" for x in lb]
    ports = "80, 443" if spec.get("tls") else "80"
    return [spec.get("ingressClassName") or "<none>", ",".join(hosts) or "*", ",".join(addrs),
            ports]


def _service_row(o):
    spec = o.get("spec") or {}
    t = spec.get("type", "ClusterIP")
    ext = []
    if t == "ExternalName":
        ext = [spec.get("externalName", "")]
    else:
        ext = list(spec.get("externalIPs") or [])
        if t == "LoadBalancer":
            lb = ((o.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
            ext += [x.get("ip") or x.get("hostname") for x in lb]
            if not ext:
                ext = ["<pending>"]
    ports = []
    for p in spec.get("ports") or []:
        s = str(p.get("port"))
        if p.get("nodePort"):
            s += f":{p['nodePort']}"
        ports.append(f"{s}/{p.get('protocol', 'TCP')}")
    sel = spec.get("selector") or {}
    return [t, spec.get("clusterIP") or "<none>", ",".join(ext) or "<none>",
            ",".join(ports) or "<none>",
            ",".join(f"{k}={v}" for k, v in sorted(sel.items())) or "<none>"]


def _endpointslice_row(o):
    ports = [str(p.get("port")) for p in o.get("ports") or [] if p.get("port") is not None]
    addrs = []
    for ep in o.get("endpoints") or []:
        addrs.extend(ep.get("addresses") or [])
    shown = ",".join(addrs[:3]) + (f" + {len(addrs) - 3} more..." if len(addrs) > 3 else "")
    return [o.get("addressType", ""), ",".join(ports) or "<unset>", shown or "<unset>"]


def _pod_row(o):
    spec, st = o.get("spec") or {}, o.get("status") or {}
    cs = st.get("containerStatuses") or []
    ready = sum(1 for c in cs if c.get("ready"))
    restarts = sum(c.get("restartCount", 0) for c in cs)
    return [f"{ready}/{len(spec.get('containers') or [])}", st.get("phase", "Pending"), restarts,
            st.get("podIP") or "<none>", spec.get("nodeName") or "<none>", "<none>", "<none>"]


TABLES = {
    "ingresses": ([_col("Class"), _col("Hosts"), _col("Address"), _col("Ports")], _ingress_row),
    "services": ([_col("Type"), _col("Cluster-IP"), _col("External-IP"), _col("Port(s)")],
                 _service_row, [_col("Selector", priority=1)]),
    "secrets": ([_col("Type"), _col("Data", typ="string")],
                lambda o: [o.get("type", ""), len(o.get("data") or {})]),
    "configmaps": ([_col("Data", typ="string")], lambda o: [len(o.get("data") or {})
                                                           + len(o.get("binaryData") or {})]),
    "namespaces": ([_col("Status")], lambda o: [(o.get("status") or {}).get("phase", "")]),
    "ingressclasses": ([_col("Controller"), _col("Parameters")],
                       lambda o: [(o.get("spec") or {}).get("controller", ""),
                                  "<none>" if not (o.get("spec") or {}).get("parameters") else
                                  dumps((o.get("spec") or {}).get("parameters"))]),
    "endpointslices": ([_col("AddressType"), _col("Ports"), _col("Endpoints")],
                       _endpointslice_row),
    "leases": ([_col("Holder")], lambda o: [(o.get("spec") or {}).get("holderIdentity", "")]),
    "endpoints": ([_col("Endpoints")], lambda o: [",".join(
        f"{a.get('ip')}:{p.get('port')}" for s in o.get("subsets") or []
        for a in s.get("addresses") or [] for p in s.get("ports") or [{}]) or "<none>"]),
    "pods": ([_col("Ready"), _col("Status"), _col("Restarts", typ="integer")], _pod_row,
             [_col("IP", priority=1), _col("Node", priority=1), _col("Nominated Node", priority=1),
              _col("Readiness Gates", priority=1)]),
}


def table_columns(res):
    spec = TABLES.get(res.plural)
    cols = [NAME_COL]
    if spec:
        cols += spec[0]
    cols.append(AGE_COL)
    if spec and len(spec) > 2:
        cols += spec[2]
    return [{"name": n, "type": t, "format": f, "description": d, "priority": p}
            for (n, t, f, d, p) in cols]


def table_row(res, obj, include_object):
    spec = TABLES.get(res.plural)
    extra = spec[1](obj) if spec else []
    base = extra[:len(spec[0])] if spec else []
    wide = extra[len(spec[0]):] if spec else []
    cells = [obj["metadata"].get("name", "")] + base + [age_of(obj)] + wide
    row = {"cells": cells}
    if include_object == "Object":
        row["object"] = with_type(res, obj)
    elif include_object != "None":
        row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                         "metadata": obj["metadata"]}
    return row


def with_type(res, obj):
    out = {"kind": res.kind, "apiVersion": res.gv}
    out.update({k: v for k, v in obj.items() if k not in ("kind", "apiVersion")})
    return out


def without_type(obj):
    return {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}


# ----------------------------------------------------------------------------------------------
# The store: objects, one global resourceVersion counter, the event history
# ----------------------------------------------------------------------------------------------

META_ORDER = ["name", "generateName", "namespace", "selfLink", "uid", "resourceVersion",
              "generation", "creationTimestamp", "deletionTimestamp",
              "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences",
              "finalizers", "managedFields"]

# What a zero-valued object of each kind serializes to besides metadata (a bookmark's body).
ZERO_BODIES = {
    "Ingress": {"spec": {}, "status": {"loadBalancer": {}}},
    "Service": {"spec": {}, "status": {"loadBalancer": {}}},
    "Namespace": {"spec": {}, "status": {}},
    "Pod": {"spec": {"containers": None}, "status": {}},
    "IngressClass": {"spec": {}},
    "Lease": {"spec": {}},
    "EndpointSlice": {"addressType": "", "endpoints": None},
    "Event": {"involvedObject": {}, "reason": "", "message": "", "source": {},
              "firstTimestamp": None, "lastTimestamp": None, "eventTime": None,
              "reportingComponent": "", "reportingInstance": ""},
}

DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def normalize(obj):
    md = obj.get("metadata") or {}
    nmd = {k: md[k] for k in META_ORDER if k in md}
    nmd.update({k: v for k, v in md.items() if k not in nmd})
    out = {"kind": obj.get("kind"), "apiVersion": obj.get("apiVersion"), "metadata": nmd}
    out.update({k: v for k, v in obj.items() if k not in out})
    return out


def fieldset(v):
    if isinstance(v, dict):
        return {"f:" + k: fieldset(x) for k, x in v.items()}
    return {}


def managed_entry(manager, operation, gv, obj, subresource):
    if subresource == "status":
        fields = {"f:status": fieldset(obj.get("status") or {})}
    else:
        md = obj.get("metadata") or {}
        fields = {}
        mdf = {"f:" + k: fieldset(md[k]) for k in ("labels", "annotations", "finalizers",
                                                    "ownerReferences") if k in md}
        if mdf:
            fields["f:metadata"] = mdf
        for k, v in obj.items():
            if k not in ("kind", "apiVersion", "metadata", "status"):
                fields["f:" + k] = fieldset(v)
    e = {"manager": manager, "operation": operation, "apiVersion": gv, "time": now_rfc3339(),
         "fieldsType": "FieldsV1", "fieldsV1": fields}
    if subresource:
        e["subresource"] = subresource
    return e


class Event:
    __slots__ = ("rv", "res", "type", "obj", "prev", "key", "_line")

    def __init__(self, rv, res, typ, obj, prev, key):
        self.rv, self.res, self.type, self.obj, self.prev, self.key = rv, res, typ, obj, prev, key
        self._line = None

    def line(self):
        if self._line is None:
            self._line = (dumps({"type": self.type, "object": self.obj}) + "\n").encode()
        return self._line


class Store:
    """All objects and the event history; every method takes the (reentrant) lock."""

    def __init__(self, history_limit=100000, initial_rv=0, history_max_bytes=512 << 20):
        self.cond = threading.Condition(threading.RLock())
        self.history_bytes = 0
        self.history_max_bytes = history_max_bytes
        self.rv = initial_rv
        self.compacted = initial_rv  # the history holds every event with rv > compacted
        self.objects = {r.id: {} for r in RESOURCES}
        self.events = []
        self.history_limit = max(1, history_limit)
        self.next_ip = 10
        self.next_node_port = 30000
        self.drop_gen = 0
        self.stall_until = 0.0  # time.monotonic() deadline
        self.stall_set_at = 0.0  # when /stall-watches was called: only streams open then stall

    # -- history ---------------------------------------------------------------------------------

    def _commit(self, res, key, obj, typ):
        self.rv += 1
        md = dict(obj.get("metadata") or {})
        md["resourceVersion"] = str(self.rv)
        obj = dict(obj)
        obj["kind"], obj["apiVersion"] = res.kind, res.gv
        obj["metadata"] = md
        obj = normalize(obj)
        store = self.objects[res.id]
        prev = store.get(key)
        if typ == "DELETED":
            store.pop(key, None)
        else:
            store[key] = obj
        ev = Event(self.rv, res, typ, obj, prev, key)
        self.events.append(ev)
        self.history_bytes += len(ev.line())  # serialized once, shared by every watcher
        if (len(self.events) > self.history_limit + max(1, self.history_limit // 10)
                or self.history_bytes > self.history_max_bytes):
            n = max(len(self.events) - self.history_limit, 1)
            while self.history_bytes - sum(len(e.line()) for e in self.events[:n]) \
                    > self.history_max_bytes * 0.9 and n < len(self.events) - 1:
                n = min(len(self.events) - 1, n * 2)
            self.history_bytes -= sum(len(e.line()) for e in self.events[:n])
            self.compacted = self.events[n - 1].rv
            del self.events[:n]
        self.cond.notify_all()
        return obj

    def compact(self):
        with self.cond:
            self.compacted = self.rv
            self.events = []
            self.history_bytes = 0
            self.cond.notify_all()
            return self.rv

    def events_after(self, rv):
        i = bisect.bisect_right(self.events, rv, key=lambda e: e.rv)
        return self.events[i:]

    def snapshot(self, res, rv):
        """The objects of res as they were at rv (rv >= compacted), keyed by storage key."""
        cur = dict(self.objects[res.id])
        for ev in reversed(self.events_after(rv)):
            if ev.res is not res:
                continue
            if ev.prev is None:
                cur.pop(ev.key, None)
            else:
                cur[ev.key] = ev.prev
        return cur

    def wait_for_rv(self, rv, timeout=TOO_LARGE_RV_WAIT):
        deadline = time.monotonic() + timeout
        while self.rv < rv:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.cond.wait(left)
        return True

    @staticmethod
    def key(res, ns, name):
        return f"{ns}/{name}" if res.namespaced else name

    def get(self, res, ns, name):
        with self.cond:
            return self.objects[res.id].get(self.key(res, ns, name))

    def namespace_exists(self, ns):
        return ns in self.objects["v1/namespaces"]

    # -- defaulting and validation -----------------------------------------------------------

    def _alloc_ip(self):
        used = {(o.get("spec") or {}).get("clusterIP") for o in self.objects["v1/services"].values()}
        while True:
            ip = f"10.96.{self.next_ip // 254 % 256}.{self.next_ip % 254 + 1}"
            self.next_ip += 1
            if ip not in used:
                return ip

    def _alloc_node_port(self):
        used = {p.get("nodePort") for o in self.objects["v1/services"].values()
                for p in (o.get("spec") or {}).get("ports") or []}
        while True:
            port = self.next_node_port
            self.next_node_port = 30000 + (self.next_node_port - 30000 + 1) % 2768
            if port not in used:
                return port

    def defaults(self, res, obj, old):
        md = obj["metadata"]
        kind = res.kind
        if kind == "Service":
            spec = obj.setdefault("spec", {})
            ospec = (old or {}).get("spec") or {}
            t = spec.setdefault("type", "ClusterIP")
            old_ports = {(p.get("port"), p.get("protocol", "TCP")): p for p in ospec.get("ports") or []}
            for p in spec.get("ports") or []:
                p.setdefault("protocol", "TCP")
                if "targetPort" not in p and "port" in p:
                    p["targetPort"] = p["port"]
                if t in ("NodePort", "LoadBalancer") and not p.get("nodePort"):
                    op = old_ports.get((p.get("port"), p["protocol"]))
                    p["nodePort"] = (op or {}).get("nodePort") or self._alloc_node_port()
            spec.setdefault("sessionAffinity", "None")
            if t != "ExternalName":
                if not spec.get("clusterIP"):
                    spec["clusterIP"] = ospec.get("clusterIP") or (
                        spec["clusterIPs"][0] if spec.get("clusterIPs") else self._alloc_ip())
                if not spec.get("clusterIPs"):
                    spec["clusterIPs"] = [spec["clusterIP"]]
                spec.setdefault("ipFamilies", ["IPv4"])
                spec.setdefault("ipFamilyPolicy", "SingleStack")
                spec.setdefault("internalTrafficPolicy", "Cluster")
                if t in ("NodePort", "LoadBalancer"):
                    spec.setdefault("externalTrafficPolicy", "Cluster")
                if t == "LoadBalancer":
                    spec.setdefault("allocateLoadBalancerNodePorts", True)
            obj.setdefault("status", {"loadBalancer": {}})
        elif kind == "Secret":
            obj.setdefault("type", "Opaque")
            sd = obj.pop("stringData", None)
            if sd:
                data = obj.setdefault("data", {})
                for k, v in sd.items():
                    data[k] = base64.b64encode(str(v).encode()).decode()
            for k, v in (obj.get("data") or {}).items():
                try:
                    base64.b64decode(v or "", validate=True)
                except (ValueError, TypeError):
                    raise bad_request(f"illegal base64 data in data[{k}]") from None
        elif kind == "Namespace":
            md.setdefault("labels", {})["kubernetes.io/metadata.name"] = md["name"]
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            obj.setdefault("status", {}).setdefault("phase", "Active")
        elif kind == "Ingress":
            obj.setdefault("status", {"loadBalancer": {}})
        elif kind == "EndpointSlice":
            for p in obj.get("ports") or []:
                p.setdefault("name", "")
                p.setdefault("protocol", "TCP")
        elif kind == "Endpoints":
            for s in obj.get("subsets") or []:
                for p in s.get("ports") or []:
                    p.setdefault("protocol", "TCP")
        elif kind == "Pod":
            spec = obj.setdefault("spec", {})
            spec.setdefault("restartPolicy", "Always")
            spec.setdefault("terminationGracePeriodSeconds", 30)
            spec.setdefault("dnsPolicy", "ClusterFirst")
            spec.setdefault("schedulerName", "default-scheduler")
            spec.setdefault("securityContext", {})
            obj.setdefault("status", {"phase": "Pending", "qosClass": "BestEffort"})

    def validate(self, res, obj):
        md = obj["metadata"]
        name = md.get("name", "")
        causes = []
        pattern, what = DNS1123_SUBDOMAIN, "subdomain"
        if res.kind == "Service":
            pattern, what = DNS1035_LABEL, "1035"
        elif res.kind == "Namespace":
            pattern, what = DNS1123_LABEL, "label"
        if not pattern.match(name) or len(name) > 253:
            msg = {
                "subdomain": "a lowercase RFC 1123 subdomain must consist of lower case "
                             "alphanumeric characters, '-' or '.', and must start and end with an "
                             "alphanumeric character (e.g. 'example.com', regex used for "
                             "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]"
                             "([-a-z0-9]*[a-z0-9])?)*')",
                "1035": "a DNS-1035 label must consist of lower case alphanumeric characters or "
                        "'-', start with an alphabetic character, and end with an alphanumeric "
                        "character (e.g. 'my-name',  or 'abc-123', regex used for validation is "
                        "'[a-z]([-a-z0-9]*[a-z0-9])?')",
                "label": "a lowercase RFC 1123 label must consist of lower case alphanumeric "
                         "characters or '-', and must start and end with an alphanumeric "
                         "character (e.g. 'my-name',  or '123-abc', regex used for validation "
                         "is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
            }[what]
            causes.append(("FieldValueInvalid", "metadata.name", f'Invalid value: "{name}": {msg}'))
        if res.kind == "Ingress":
            for i, rule in enumerate((obj.get("spec") or {}).get("rules") or []):
                for j, p in enumerate(((rule.get("http") or {}).get("paths")) or []):
                    field = f"spec.rules[{i}].http.paths[{j}].pathType"
                    pt = p.get("pathType")
                    if not pt:
                        causes.append(("FieldValueRequired", field,
                                       "Required value: pathType must be specified"))
                    elif pt not in ("Exact", "ImplementationSpecific", "Prefix"):
                        causes.append(("FieldValueNotSupported", field,
                                       f'Unsupported value: "{pt}": supported values: "Exact", '
                                       '"ImplementationSpecific", "Prefix"'))
        if causes:
            raise invalid_obj(res, name, causes)

    # -- writes ------------------------------------------------------------------------------

    def _check_type(self, res, obj):
        if not isinstance(obj, dict):
            raise bad_request("the body of the request is not a JSON object")
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if kind and kind != res.kind:
            raise bad_request(f"the kind in the data ({kind}) does not match the expected kind "
                              f"({res.kind})")
        if api_version and api_version != res.gv:
            raise bad_request(f"the API version in the data ({api_version}) does not match the "
                              f"expected API version ({res.gv})")
        md = obj.get("metadata")
        if md is None:
            obj["metadata"] = {}
        elif not isinstance(md, dict):
            raise bad_request("metadata must be an object")

    def create(self, res, ns, body, manager="unknown", control=False):
        obj = clone(body)
        self._check_type(res, obj)
        md = obj["metadata"]
        if res.namespaced:
            if ns is None:
                ns = md.get("namespace") or "default"
            elif md.get("namespace") and md["namespace"] != ns:
                raise bad_request("the namespace of the provided object does not match the "
                                  "namespace sent on the request")
            md["namespace"] = ns
        else:
            md.pop("namespace", None)
        if not md.get("name") and md.get("generateName"):
            md["name"] = md["generateName"] + "".join(random.choice("bcdfghjklmnpqrstvwxz2456789")
                                                      for _ in range(5))
        name = md.get("name")
        if not name:
            raise invalid_obj(res, "", [("FieldValueRequired", "metadata.name",
                                         "Required value: name or generateName is required")])
        if md.get("resourceVersion") and not control:
            raise bad_request("resourceVersion should not be set on objects to be created")
        with self.cond:
            key = self.key(res, ns, name)
            cur = self.objects[res.id].get(key)
            if cur is not None:
                if control:
                    return self._update_locked(res, key, cur, obj, None, manager, control=True), False
                raise already_exists(res, name)
            if res.namespaced and not control and not self.namespace_exists(ns):
                raise namespace_not_found(ns)
            for f in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds",
                      "selfLink", "managedFields"):
                md.pop(f, None)
            md["uid"] = str(uuid.uuid4())
            md["creationTimestamp"] = now_rfc3339()
            if res.generation:
                md["generation"] = 1
            else:
                md.pop("generation", None)
            if res.status and not control:
                obj.pop("status", None)
            obj["kind"], obj["apiVersion"] = res.kind, res.gv
            self.defaults(res, obj, None)
            if not control:
                self.validate(res, obj)
            md["managedFields"] = [managed_entry(manager, "Update", res.gv, obj, None)]
            return self._commit(res, key, obj, "ADDED"), True

    def update(self, res, ns, name, body, subresource=None, manager="unknown"):
        obj = clone(body)
        self._check_type(res, obj)
        md = obj["metadata"]
        if md.get("name") and md["name"] != name:
            raise bad_request(f"the name of the object ({md['name']}) does not match the name on "
                              f"the URL ({name})")
        if res.namespaced and md.get("namespace") and md["namespace"] != ns:
            raise bad_request("the namespace of the provided object does not match the namespace "
                              "sent on the request")
        md["name"] = name
        with self.cond:
            key = self.key(res, ns, name)
            cur = self.objects[res.id].get(key)
            if cur is None:
                if res.create_on_update and not subresource:
                    if md.get("resourceVersion"):
                        raise not_found(res, name)
                    return self.create(res, ns, obj, manager)
                raise not_found(res, name)
            rv = md.get("resourceVersion")
            if rv and rv != cur["metadata"]["resourceVersion"]:
                raise conflict(res, name)
            return self._update_locked(res, key, cur, obj, subresource, manager), False

    def patch(self, res, ns, name, ptype, patch, subresource=None, manager="unknown", force=False):
        with self.cond:
            key = self.key(res, ns, name)
            cur = self.objects[res.id].get(key)
            if cur is None:
                if ptype == "apply" and not subresource:
                    if not isinstance(patch, dict):
                        raise bad_request("the body of an apply patch must be an object")
                    return self.create(res, ns, patch, manager)
                raise not_found(res, name)
            base = clone(cur)
            if ptype == "merge":
                patched = merge_patch(base, patch)
            elif ptype == "strategic":
                if not isinstance(patch, dict):
                    raise bad_request("the body of a strategic merge patch must be an object")
                patched = strategic_merge(res.kind, base, patch)
            elif ptype == "json":
                patched = json_patch(base, patch)
            else:  # apply: approximated by merging the applied configuration
                if not isinstance(patch, dict):
                    raise bad_request("the body of an apply patch must be an object")
                self._check_type(res, clone(patch))
                patched = strategic_merge(res.kind, base, patch)
            if not isinstance(patched, dict):
                raise bad_request("the patched object is not a JSON object")
            self._check_type(res, patched)
            pmd = patched["metadata"]
            rv = pmd.get("resourceVersion")
            if rv and rv != cur["metadata"]["resourceVersion"]:
                raise conflict(res, name)
            pmd["name"] = name
            if res.namespaced:
                pmd["namespace"] = ns
            op = "Apply" if ptype == "apply" else "Update"
            return self._update_locked(res, key, cur, patched, subresource, manager, op=op), False

    def _update_locked(self, res, key, cur, new, subresource, manager, control=False, op="Update"):
        cmd = cur["metadata"]
        if subresource == "status":
            result = clone(cur)
            result["status"] = new.get("status") if new.get("status") is not None else {}
            if res.kind == "Namespace" and "phase" not in result["status"]:
                result["status"]["phase"] = "Active"
        else:
            result = new
            md = result["metadata"]
            for f in ("uid", "creationTimestamp", "deletionTimestamp",
                      "deletionGracePeriodSeconds", "generation"):
                if f in cmd:
                    md[f] = cmd[f]
                else:
                    md.pop(f, None)
            md["name"] = cmd["name"]
            if "namespace" in cmd:
                md["namespace"] = cmd["namespace"]
            if res.status and (not control or "status" not in result):
                if "status" in cur:
                    result["status"] = cur["status"]
                else:
                    result.pop("status", None)
            result["kind"], result["apiVersion"] = res.kind, res.gv
            self.defaults(res, result, cur)
            if not control:
                self.validate(res, result)
            if res.generation == "spec":
                changed = result.get("spec") != cur.get("spec")
            elif res.generation == "all":
                skip = ("kind", "apiVersion", "metadata")
                changed = ({k: v for k, v in result.items() if k not in skip}
                           != {k: v for k, v in cur.items() if k not in skip})
            else:
                changed = False
            if res.generation:
                md["generation"] = cmd.get("generation", 1) + (1 if changed else 0)
        rmd = result["metadata"]
        rmd["resourceVersion"] = cmd["resourceVersion"]
        entries = [e for e in cmd.get("managedFields") or []
                   if not (e.get("manager") == manager and e.get("operation") == op
                           and e.get("subresource") == subresource)]
        rmd.pop("managedFields", None)
        same = (normalize({**result, "metadata": {k: v for k, v in rmd.items()}})
                == normalize({**cur, "metadata": {k: v for k, v in cmd.items()
                                                   if k != "managedFields"}}))
        if same and not control:
            return cur  # a no-op update: no new resourceVersion, no event
        rmd["managedFields"] = entries + [managed_entry(manager, op, res.gv, result, subresource)]
        if rmd.get("deletionTimestamp") and not rmd.get("finalizers"):
            return self._commit(res, key, result, "DELETED")
        return self._commit(res, key, result, "MODIFIED")

    def delete(self, res, ns, name, options=None, control=False):
        """Returns (object, deleted_now)."""
        with self.cond:
            key = self.key(res, ns, name)
            cur = self.objects[res.id].get(key)
            if cur is None:
                raise not_found(res, name)
            pre = (options or {}).get("preconditions") or {}
            cmd = cur["metadata"]
            if pre.get("uid") and pre["uid"] != cmd.get("uid"):
                raise conflict(res, name, f"Precondition failed: UID in precondition: "
                                          f"{pre['uid']}, UID in object meta: {cmd.get('uid')}")
            if pre.get("resourceVersion") and pre["resourceVersion"] != cmd["resourceVersion"]:
                raise conflict(res, name, f"Precondition failed: ResourceVersion in precondition: "
                                          f"{pre['resourceVersion']}, ResourceVersion in object "
                                          f"meta: {cmd['resourceVersion']}")
            if res.kind == "Namespace":
                term = clone(cur)
                term["metadata"]["deletionTimestamp"] = now_rfc3339()
                term.setdefault("status", {})["phase"] = "Terminating"
                term = self._commit(res, key, term, "MODIFIED")
                for r in RESOURCES:
                    if not r.namespaced:
                        continue
                    for k in sorted(k for k in self.objects[r.id] if k.startswith(name + "/")):
                        self._commit(r, k, self.objects[r.id][k], "DELETED")
                self._commit(res, key, term, "DELETED")
                return term, False
            if cmd.get("finalizers") and not control:
                if cmd.get("deletionTimestamp"):
                    return cur, False
                obj = clone(cur)
                obj["metadata"]["deletionTimestamp"] = now_rfc3339()
                obj["metadata"]["deletionGracePeriodSeconds"] = 0
                if "generation" in obj["metadata"]:
                    obj["metadata"]["generation"] += 1
                return self._commit(res, key, obj, "MODIFIED"), False
            return self._commit(res, key, cur, "DELETED"), True

    def seed(self):
        for ns in SEED_NAMESPACES:
            self.create(RES_BY_GV_PLURAL[("v1", "namespaces")], None,
                        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
                        manager="kube-apiserver")
        self.create(RES_BY_GV_PLURAL[("v1", "services")], "default",
                    {"apiVersion": "v1", "kind": "Service",
                     "metadata": {"name": "kubernetes", "namespace": "default",
                                  "labels": {"component": "apiserver", "provider": "kubernetes"}},
                     "spec": {"ports": [{"name": "https", "port": 443, "targetPort": 6443}],
                              "clusterIP": "10.96.0.1"}},
                    manager="kube-apiserver")


# ----------------------------------------------------------------------------------------------
# Discovery documents
# ----------------------------------------------------------------------------------------------

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def storage_version_hash(res):
    return base64.b64encode(hashlib.sha256(f"{res.gv}/{res.kind}".encode()).digest()[:8]).decode()


def api_resource_list(gv):
    resources = []
    for r in RESOURCES:
        if r.gv != gv:
            continue
        e = {"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
             "kind": r.kind, "verbs": VERBS}
        if r.short:
            e["shortNames"] = r.short
        if r.categories:
            e["categories"] = r.categories
        e["storageVersionHash"] = storage_version_hash(r)
        resources.append(e)
        if r.status:
            resources.append({"name": r.plural + "/status", "singularName": "",
                              "namespaced": r.namespaced, "kind": r.kind,
                              "verbs": ["get", "patch", "update"]})
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
            "resources": resources}


def api_group(group):
    versions = [{"groupVersion": gv, "version": gv.split("/")[1]}
                for gv in GROUP_VERSIONS if gv.startswith(group + "/")]
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}


def api_group_list():
    groups = []
    for gv in GROUP_VERSIONS:
        if "/" in gv:
            g = gv.split("/")[0]
            if all(x["name"] != g for x in groups):
                groups.append(api_group(g))
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def openapi_v3_index():
    paths = {}
    for gv in GROUP_VERSIONS:
        p = "api/" + gv if "/" not in gv else "apis/" + gv
        h = hashlib.sha512(p.encode()).hexdigest().upper()[:128]
        paths[p] = {"serverRelativeURL": f"/openapi/v3/{p}?hash={h}"}
    return {"paths": paths}


def openapi_v3_gv(gv):
    """A minimal OpenAPI v3 document: enough for kubectl to see that PATCH supports the
    fieldValidation parameter (server-side field validation), with open object schemas."""
    paths, schemas = {}, {}
    group, version = (gv.split("/") + [""])[:2] if "/" in gv else ("", gv)
    prefix = f"/apis/{gv}" if group else f"/api/{gv}"
    for r in RESOURCES:
        if r.gv != gv:
            continue
        gvk = {"group": r.group, "version": r.version, "kind": r.kind}
        params = [{"name": n, "in": "query", "schema": {"type": "string"}, "uniqueItems": True}
                  for n in ("dryRun", "fieldManager", "fieldValidation", "force", "pretty")]
        item = (f"{prefix}/namespaces/{{namespace}}/{r.plural}/{{name}}" if r.namespaced
                else f"{prefix}/{r.plural}/{{name}}")
        op = {"operationId": f"patch{r.kind}", "x-kubernetes-action": "patch",
              "x-kubernetes-group-version-kind": gvk, "parameters": params,
              "responses": {"200": {"description": "OK"}}}
        paths[item] = {"patch": op, "put": dict(op, operationId=f"replace{r.kind}",
                                                **{"x-kubernetes-action": "put"}),
                       "get": dict(op, operationId=f"read{r.kind}",
                                   **{"x-kubernetes-action": "get"})}
        name = (f"io.k8s.api.{(r.group.split('.')[0] if r.group else 'core')}.{r.version}."
                f"{r.kind}")
        schemas[name] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                         "x-kubernetes-group-version-kind": [gvk]}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": KUBE_VERSION["gitVersion"]},
            "paths": paths, "components": {"schemas": schemas}}


# ----------------------------------------------------------------------------------------------
# The application: configuration, auth, request log, watch registry
# ----------------------------------------------------------------------------------------------

class App:
    def __init__(self, args):
        self.args = args
        self.store = Store(args.history_limit, args.initial_resource_version,
                           args.history_max_mib << 20)
        self.lock = threading.Lock()  # for everything below
        self.tokens = {}
        self.delay_ms = 0
        self.forbid_rules = []
        self.fail_rules = []
        self.requests = []
        self.watches = {}
        self.next_watch_id = 1
        self.port = 0
        self.control_port = 0
        self.ca_subject = None

    def set_tokens(self, tokens):
        table = {}
        for t in tokens:
            if isinstance(t, dict):
                table[str(t["token"])] = {"user": t.get("user", DEFAULT_USER),
                                          "groups": t.get("groups", [])}
            else:
                table[str(t)] = {"user": DEFAULT_USER, "groups": ["system:serviceaccounts"]}
        with self.lock:
            self.tokens = table

    def log_request(self, entry):
        with self.lock:
            self.requests.append(entry)
            if len(self.requests) > 200000:
                del self.requests[:50000]

    def check_forbidden(self, user, verb, res, sub, ns, name):
        resource = res.plural + ("/" + sub if sub else "")
        with self.lock:
            rules = list(self.forbid_rules)
        for rule in rules:
            if rule.get("resource") not in (resource, res.plural if not sub else resource, "*"):
                continue
            if "group" in rule and rule["group"] != res.group:
                continue
            if rule.get("namespace") and rule["namespace"] != ns:
                continue
            verbs = rule.get("verbs") or ["*"]
            if verb not in verbs and "*" not in verbs:
                continue
            scope = f'in the namespace "{ns}"' if ns else "at the cluster scope"
            why = (f'User "{user}" cannot {verb} resource "{resource}" in API group "{res.group}" '
                   f"{scope}")
            subject = f'{res.qualified} "{name}"' if name else res.qualified
            raise ApiError(status_obj(403, "Forbidden", f"{subject} is forbidden: {why}",
                                      res.details(name if name else None)))

    def take_failure(self, method, full_path, is_watch):
        with self.lock:
            for rule in self.fail_rules:
                if rule.get("count", 1) <= 0:
                    continue
                if rule.get("path_contains") and rule["path_contains"] not in full_path:
                    continue
                if rule.get("method") and rule["method"].upper() != method:
                    continue
                if "watch" in rule and bool(rule["watch"]) != is_watch:
                    continue
                rule["count"] = rule.get("count", 1) - 1
                self.fail_rules = [r for r in self.fail_rules if r.get("count", 1) > 0]
                return dict(rule)
        return None


class AbortConnection(Exception):
    """Close the connection without finishing the response."""


# ----------------------------------------------------------------------------------------------
# The API server (HTTPS)
# ----------------------------------------------------------------------------------------------

def parse_accept(accept):
    """-> ("json", None) or ("table", version); raises 406 when nothing acceptable."""
    if not accept or not accept.strip():
        return "json", None
    for clause in accept.split(","):
        bits = [b.strip() for b in clause.split(";")]
        mt = bits[0].lower()
        params = {}
        for b in bits[1:]:
            if "=" in b:
                k, v = b.split("=", 1)
                params[k.strip()] = v.strip()
        if "as" in params:
            if (params["as"] == "Table" and params.get("g") == "meta.k8s.io"
                    and params.get("v") in ("v1", "v1beta1") and mt == "application/json"):
                return "table", params["v"]
            continue
        if mt in ("application/json", "application/*", "*/*", "*"):
            return "json", None
    raise ApiError(status_obj(406, "NotAcceptable",
                              "only the following media types are accepted: application/json, "
                              "application/yaml, application/vnd.kubernetes.protobuf"))


class ApiHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "portico-kube-standin/1"
    sys_version = ""
    disable_nagle_algorithm = True  # as Go's net/http (the real server) does
    timeout = 120  # idle keep-alive connections

    def setup(self):
        self.request.settimeout(15)
        self.request.do_handshake()
        super().setup()

    def log_message(self, fmt, *a):
        if self.server.app.args.verbose:
            sys.stderr.write("apiserver: " + (fmt % a) + "\n")

    def do_GET(self):
        self.handle_api()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    # -- plumbing ----------------------------------------------------------------------------

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def start_response(self, code, headers):
        self.send_response(code)
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.entry["status"] = code
        self.entry["duration_ms"] = round((time.time() - self.entry["time"]) * 1000, 1)
        self.server.app.log_request(self.entry)

    def send_body(self, code, body, content_type="application/json", extra=None):
        if isinstance(body, (dict, list)):
            body = (dumps(body) + "\n").encode()
        elif isinstance(body, str):
            body = body.encode()
        headers = {"Content-Type": content_type}
        if (len(body) >= GZIP_THRESHOLD
                and "gzip" in (self.headers.get("Accept-Encoding") or "").lower()):
            body = gzip.compress(body, 1)
            headers["Content-Encoding"] = "gzip"
        headers["Content-Length"] = str(len(body))
        headers.update(extra or {})
        self.start_response(code, headers)
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error_status(self, err):
        extra = dict(err.headers)
        self.send_body(err.code, err.status, extra=extra)

    def authenticate(self):
        app = self.server.app
        try:
            cert = self.request.getpeercert()
        except (ValueError, OSError):
            cert = None
        if cert:
            subject = dict(x[0] for x in cert.get("subject", ()))
            return subject.get("commonName", ""), "cert", None
        authz = self.headers.get("Authorization") or ""
        if authz.lower().startswith("bearer "):
            token = authz[7:].strip()
            with app.lock:
                info = app.tokens.get(token)
            if info:
                return info["user"], "token", token
            return None, "token", token
        return None, None, None

    # -- request handling --------------------------------------------------------------------

    def handle_api(self):
        app = self.server.app
        parsed = urllib.parse.urlsplit(self.path)
        path = parsed.path
        query = {k: v[-1] for k, v in
                 urllib.parse.parse_qs(parsed.query, keep_blank_values=True).items()}
        self.entry = {"time": time.time(), "method": self.command, "path": path, "query": query,
                      "user": None, "auth": None, "token": None, "status": None,
                      "watch": False, "user_agent": self.headers.get("User-Agent", ""),
                      "content_type": self.headers.get("Content-Type", "")}
        try:
            body = self.read_body()
            if body:
                self.entry["body"] = body[:65536].decode("utf-8", "replace")
            user, kind, token = self.authenticate()
            self.entry.update(user=user, auth=kind, token=token)
            if user is None:
                raise ApiError(status_obj(401, "Unauthorized", "Unauthorized"))
            with app.lock:
                delay = app.delay_ms
            if delay > 0:
                time.sleep(delay / 1000.0)
            self.route(path, query, body, user)
        except ApiError as e:
            self.send_error_status(e)
        except AbortConnection:
            self.close_connection = True
        except _Done:
            pass
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, socket.timeout):
            self.close_connection = True
        except Exception as e:  # a bug in the stand-in: answer 500 rather than hang
            import traceback
            traceback.print_exc()
            try:
                self.send_body(500, status_obj(500, "InternalError",
                                               f"Internal error occurred: {e!r}"))
            except OSError:
                self.close_connection = True

    def inject_failure(self, full_path, is_watch):
        rule = self.server.app.take_failure(self.command, full_path, is_watch)
        if rule is None:
            return
        code = int(rule.get("status", 500))
        if code == 0:
            try:
                self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                        b"\x01\x00\x00\x00\x00\x00\x00\x00")
            except OSError:
                pass
            self.entry["status"] = 0
            self.server.app.log_request(self.entry)
            socket.socket.shutdown(self.request, socket.SHUT_RDWR)
            raise AbortConnection()
        st = status_obj(code, rule.get("reason", REASONS.get(code, "")),
                        rule.get("message", MESSAGES.get(code, f"injected failure {code}")))
        if rule.get("details") is not None:
            st["details"] = rule["details"]
        headers = {}
        if code in (429, 503) or rule.get("retry_after") is not None:
            ra = rule.get("retry_after", 1)
            headers["Retry-After"] = str(ra)
            st.setdefault("details", {})["retryAfterSeconds"] = int(ra)
        if is_watch and rule.get("as_watch_error"):
            self.start_response(200, {"Content-Type": "application/json",
                                      "Transfer-Encoding": "chunked"})
            self.write_chunk((dumps({"type": "ERROR", "object": st}) + "\n").encode())
            self.write_chunk(b"")
            raise AbortConnection() if rule.get("abort") else _Done()
        raise ApiError(st, headers)

    def route(self, path, q, body, user):
        app = self.server.app
        segs = [s for s in path.split("/") if s]
        full_path = self.path
        method = self.command
        if method in ("HEAD", "OPTIONS"):
            method = "GET"
        if not segs:
            self.inject_failure(full_path, False)
            return self.send_body(200, {"paths": ["/api", "/api/v1", "/apis", "/healthz",
                                                  "/livez", "/readyz", "/version"]})
        if segs[0] in ("healthz", "livez", "readyz") and len(segs) <= 2:
            self.inject_failure(full_path, False)
            return self.send_body(200, "ok", "text/plain; charset=utf-8")
        if segs == ["version"]:
            self.inject_failure(full_path, False)
            return self.send_body(200, KUBE_VERSION)
        if segs[0] == "openapi":
            self.inject_failure(full_path, False)
            if segs == ["openapi", "v3"]:
                return self.send_body(200, openapi_v3_index())
            if len(segs) >= 4 and segs[:2] == ["openapi", "v3"]:
                gv = "/".join(segs[3:])
                if gv in GROUP_VERSIONS and (segs[2] == "apis") == ("/" in gv):
                    return self.send_body(200, openapi_v3_gv(gv))
            raise generic_not_found()
        if segs[0] == "api":
            if len(segs) == 1:
                self.inject_failure(full_path, False)
                return self.send_body(200, {"kind": "APIVersions", "versions": ["v1"],
                                            "serverAddressByClientCIDRs": [
                                                {"clientCIDR": "0.0.0.0/0",
                                                 "serverAddress": f"127.0.0.1:{app.port}"}]})
            gv, rest = segs[1], segs[2:]
        elif segs[0] == "apis":
            if len(segs) == 1:
                self.inject_failure(full_path, False)
                return self.send_body(200, api_group_list())
            if len(segs) == 2:
                self.inject_failure(full_path, False)
                if any(g.startswith(segs[1] + "/") for g in GROUP_VERSIONS):
                    return self.send_body(200, dict({"kind": "APIGroup", "apiVersion": "v1"},
                                                    **api_group(segs[1])))
                raise generic_not_found()
            gv, rest = segs[1] + "/" + segs[2], segs[3:]
        else:
            raise generic_not_found()
        if gv not in GROUP_VERSIONS:
            raise generic_not_found()
        if not rest:
            self.inject_failure(full_path, False)
            return self.send_body(200, api_resource_list(gv))
        watch_path = False
        if rest[0] == "watch":
            watch_path, rest = True, rest[1:]
        ns = name = sub = None
        if (len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize")):
            ns, plural, tail = rest[1], rest[2], rest[3:]
            res = RES_BY_GV_PLURAL.get((gv, plural))
            if res is None or not res.namespaced:
                raise generic_not_found()
        else:
            plural, tail = rest[0], rest[1:]
            res = RES_BY_GV_PLURAL.get((gv, plural))
            if res is None or (res.namespaced and tail):
                raise generic_not_found()
        if len(tail) > 2:
            raise generic_not_found()
        if tail:
            name = tail[0]
        if len(tail) == 2:
            sub = tail[1]
            if sub != "status" or not res.status or watch_path:
                raise generic_not_found()
        is_watch = watch_path or (method == "GET" and name is None
                                  and q.get("watch", "").lower() in ("1", "true"))
        # the verb, as RequestInfo derives it
        if method == "GET":
            verb = "watch" if is_watch else ("get" if name else "list")
        elif method == "POST":
            verb = "create"
        elif method == "PUT":
            verb = "update"
        elif method == "PATCH":
            verb = "patch"
        elif method == "DELETE":
            verb = "delete" if name else "deletecollection"
        else:
            raise method_not_allowed()
        authz_name = name
        if name is None and verb in ("list", "watch"):
            for term in (q.get("fieldSelector") or "").split(","):
                if term.startswith("metadata.name="):
                    authz_name = term.split("=", 1)[1]
        app.check_forbidden(user, verb, res, sub, ns, authz_name)
        self.entry["watch"] = is_watch
        self.inject_failure(full_path, is_watch)
        manager = q.get("fieldManager") or (self.headers.get("User-Agent") or "unknown").split("/")[0]
        store = app.store
        if verb == "watch":
            return self.serve_watch(res, ns, name, q)
        if verb == "list":
            return self.serve_list(res, ns, q)
        if verb == "get":
            fmt, tv = parse_accept(self.headers.get("Accept"))
            obj = store.get(res, ns, name)
            if obj is None:
                raise not_found(res, name)
            if fmt == "table":
                return self.send_body(200, self.table(res, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]}, tv, q))
            return self.send_body(200, obj)
        if verb == "create":
            if name is not None or (res.namespaced and ns is None):
                raise method_not_allowed()
            obj, _ = store.create(res, ns, self.json_body(body), manager=manager)
            return self.send_body(201, obj)
        if verb == "update":
            obj, created = store.update(res, ns, name, self.json_body(body), sub, manager=manager)
            return self.send_body(201 if created else 200, obj)
        if verb == "patch":
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            ptype = {"application/merge-patch+json": "merge",
                     "application/strategic-merge-patch+json": "strategic",
                     "application/json-patch+json": "json",
                     "application/apply-patch+yaml": "apply",
                     "application/apply-patch+cbor": None}.get(ctype)
            if ptype is None:
                raise ApiError(status_obj(
                    415, "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types "
                    "include: application/json-patch+json, application/merge-patch+json, "
                    "application/apply-patch+yaml, application/strategic-merge-patch+json"))
            if ptype == "apply" and not q.get("fieldManager"):
                raise ApiError(status_obj(
                    422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: '
                                    "Required value: is required for apply patch",
                    {"group": "meta.k8s.io", "kind": "PatchOptions",
                     "causes": [{"reason": "FieldValueRequired",
                                 "message": "Required value: is required for apply patch",
                                 "field": "fieldManager"}]}))
            try:
                patch = json.loads(body or b"null")
            except ValueError as e:
                if ptype == "apply":
                    raise ApiError(status_obj(415, "UnsupportedMediaType",
                                              "this stand-in accepts apply patches in JSON only"))
                raise bad_request(f"error decoding patch: {e}") from None
            obj, created = store.patch(res, ns, name, ptype, patch, sub, manager=manager)
            return self.send_body(201 if created else 200, obj)
        if verb == "delete":
            if sub:
                raise method_not_allowed()
            options = self.json_body(body) if body.strip() else {}
            obj, gone = store.delete(res, ns, name, options)
            if not gone or res.delete_returns_object:
                return self.send_body(200, obj)
            return self.send_body(200, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                        "status": "Success",
                                        "details": res.details(name, uid=obj["metadata"].get("uid"))})
        if verb == "deletecollection":
            if sub or (res.namespaced and ns is None and False):
                raise method_not_allowed()
            labels = parse_label_selector(q.get("labelSelector"))
            fields = parse_field_selector(res, q.get("fieldSelector"))
            deleted = []
            with store.cond:
                for key in sorted(store.objects[res.id]):
                    obj = store.objects[res.id][key]
                    if ns and obj["metadata"].get("namespace") != ns:
                        continue
                    if labels_match(labels, obj["metadata"].get("labels")) and fields_match(fields, obj):
                        deleted.append(store.delete(res, obj["metadata"].get("namespace"),
                                                    obj["metadata"]["name"])[0])
                rv = str(store.rv)
            return self.send_body(200, {"kind": res.list_kind, "apiVersion": res.gv,
                                        "metadata": {"resourceVersion": rv},
                                        "items": [without_type(o) for o in deleted]})
        raise method_not_allowed()

    def json_body(self, body):
        ctype = (self.headers.get("Content-Type") or "application/json").split(";")[0].strip()
        if ctype not in ("application/json", "application/yaml", "*/*", ""):
            raise ApiError(status_obj(415, "UnsupportedMediaType",
                                      f'the body of the request was in an unknown format - '
                                      f'accepted media types include: application/json, '
                                      f'application/yaml, application/vnd.kubernetes.protobuf'))
        try:
            obj = json.loads(body or b"null")
        except ValueError as e:
            raise bad_request(f"the body of the request could not be decoded as JSON: {e}") from None
        if not isinstance(obj, dict):
            raise bad_request("the body of the request must be a JSON object")
        return obj

    # -- tables ------------------------------------------------------------------------------

    def table(self, res, objs, list_meta, version, q, columns=True):
        inc = q.get("includeObject") or "Metadata"
        t = {"kind": "Table", "apiVersion": f"meta.k8s.io/{version}", "metadata": list_meta}
        t["columnDefinitions"] = table_columns(res) if columns else []
        t["rows"] = [table_row(res, o, inc) for o in objs]
        return t

    # -- list --------------------------------------------------------------------------------

    def serve_list(self, res, ns, q):
        store = self.server.app.store
        fmt, tv = parse_accept(self.headers.get("Accept"))
        labels = parse_label_selector(q.get("labelSelector"))
        fields = parse_field_selector(res, q.get("fieldSelector"))
        try:
            limit = int(q.get("limit") or 0)
        except ValueError:
            raise bad_request(f"limit: Invalid value: {q.get('limit')!r}") from None
        cont = q.get("continue") or ""
        rv = q.get("resourceVersion")
        rvm = q.get("resourceVersionMatch")
        if rvm:
            if not rv:
                raise invalid_list_options("resourceVersionMatch", "Forbidden: resourceVersionMatch "
                                           "is forbidden unless resourceVersion is provided")
            if cont:
                raise invalid_list_options("resourceVersionMatch", "Forbidden: resourceVersionMatch "
                                           "is forbidden when continue is provided")
            if rvm not in ("NotOlderThan", "Exact"):
                raise invalid(
                    "ListOptions.meta.k8s.io", "",
                    [("FieldValueNotSupported", "resourceVersionMatch",
                      f'Unsupported value: "{rvm}": supported values: "Exact", "NotOlderThan", ""')],
                    "meta.k8s.io", "ListOptions")
            if rvm == "Exact" and rv == "0":
                raise invalid_list_options("resourceVersionMatch", 'Forbidden: resourceVersionMatch '
                                           '"exact" is forbidden for resourceVersion "0"')
        if cont and rv not in (None, "", "0"):
            raise bad_request("specifying resource version is not allowed when using continue")
        start = ""
        with store.cond:
            if cont:
                try:
                    tok = json.loads(base64.urlsafe_b64decode(cont + "=" * (-len(cont) % 4)))
                    crv, start = int(tok["rv"]), str(tok["start"])
                    if tok.get("v") != "meta.k8s.io/v1":
                        raise ValueError("version")
                except (ValueError, KeyError, TypeError):
                    raise bad_request("continue key is not valid: incorrect encoded start "
                                      "resourceVersion (version meta.k8s.io/v1)") from None
                if crv == -1:
                    snap, list_rv = store.objects[res.id], store.rv
                elif crv < store.compacted:
                    newtok = base64.urlsafe_b64encode(dumps(
                        {"v": "meta.k8s.io/v1", "rv": -1, "start": start}).encode()).decode().rstrip("=")
                    raise expired(
                        "The provided continue parameter is too old to display a consistent list "
                        "result. You can start a new list without the continue parameter, or use "
                        "the continue token in this response to retrieve the remainder of the "
                        "results. Continuing with the provided token results in an inconsistent "
                        "list - objects that were created, modified, or deleted between the time "
                        "the first chunk was returned and now may show up in the list.",
                        {"continue": newtok})
                else:
                    snap, list_rv = store.snapshot(res, min(crv, store.rv)), crv
            elif rv in (None, ""):
                snap, list_rv = store.objects[res.id], store.rv
            elif rv == "0":
                snap, list_rv = store.objects[res.id], store.rv
                limit = 0  # served from the watch cache, which ignores limit
            else:
                try:
                    want = int(rv)
                except ValueError:
                    raise bad_request(f'resourceVersion: Invalid value: "{rv}": invalid '
                                      f"resource version") from None
                exact = rvm == "Exact" or (not rvm and limit > 0)
                if want > store.rv and not store.wait_for_rv(want):
                    raise too_large_rv(want, store.rv)
                if exact:
                    if want < store.compacted:
                        raise expired("The resourceVersion for the provided list is too old.")
                    snap, list_rv = store.snapshot(res, want), want
                else:
                    snap, list_rv = store.objects[res.id], store.rv
            prefix = ns + "/" if (ns and res.namespaced) else ""
            keys = sorted(k for k in snap if k.startswith(prefix))
            objs = [snap[k] for k in keys]
        begin = bisect.bisect_left(keys, prefix + start) if start else 0
        items, meta = [], {"resourceVersion": str(list_rv)}
        no_selectors = not labels and not fields
        i = begin
        while i < len(keys):
            o = objs[i]
            i += 1
            if not labels_match(labels, o["metadata"].get("labels")) or not fields_match(fields, o):
                continue
            items.append(o)
            if limit and len(items) >= limit:
                break
        if limit and len(items) >= limit and i < len(keys):
            last = keys[i - 1][len(prefix):]
            meta["continue"] = base64.urlsafe_b64encode(dumps(
                {"v": "meta.k8s.io/v1", "rv": list_rv, "start": last + "\x00"}).encode()
            ).decode().rstrip("=")
            if no_selectors:
                meta["remainingItemCount"] = len(keys) - i
        if fmt == "table":
            return self.send_body(200, self.table(res, items, meta, tv, q))
        return self.send_body(200, {"kind": res.list_kind, "apiVersion": res.gv, "metadata": meta,
                                    "items": [without_type(o) for o in items]})

    # -- watch -------------------------------------------------------------------------------

    def write_chunk(self, data):
        self.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")

    def client_gone(self):
        sock = self.request
        try:
            r, _, _ = select.select([sock], [], [], 0)
            if not r:
                return False
            sock.setblocking(False)
            try:
                data = sock.recv(4096)
            except (ssl.SSLWantReadError, BlockingIOError):
                return False
            finally:
                sock.settimeout(None)
            return data == b""
        except (OSError, ValueError):
            return True

    def serve_watch(self, res, ns, name, q):
        app = self.server.app
        store = app.store
        fmt, tv = parse_accept(self.headers.get("Accept"))
        labels = parse_label_selector(q.get("labelSelector"))
        fields = parse_field_selector(res, q.get("fieldSelector"))
        rv = q.get("resourceVersion")
        rvm = q.get("resourceVersionMatch")
        allow_bm = q.get("allowWatchBookmarks", "").lower() in ("1", "true")
        sie = q.get("sendInitialEvents")
        send_initial = None if sie is None else sie.lower() in ("1", "true")
        if send_initial is not None:
            if rvm != "NotOlderThan":
                raise invalid_list_options("resourceVersionMatch",
                                           "Forbidden: sendInitialEvents requires setting "
                                           "resourceVersionMatch to NotOlderThan")
            if send_initial and not allow_bm:
                raise invalid_list_options("sendInitialEvents",
                                           "Forbidden: sendInitialEvents is forbidden for watch "
                                           "unless the WatchList feature gate is enabled")
        elif rvm:
            raise invalid_list_options("resourceVersionMatch", "Forbidden: resourceVersionMatch is "
                                       "forbidden for watch unless sendInitialEvents is provided")
        try:
            timeout = int(q.get("timeoutSeconds") or 0)
        except ValueError:
            raise bad_request("timeoutSeconds: invalid value") from None
        if timeout <= 0:
            mrt = app.args.min_request_timeout
            timeout = mrt * (random.random() + 1.0)
        error = None
        initial = []
        with store.cond:
            if rv not in (None, "", "0"):
                try:
                    want = int(rv)
                except ValueError:
                    raise bad_request(f'resourceVersion: Invalid value: "{rv}": invalid resource '
                                      f"version") from None
            else:
                want = None
            if send_initial or (send_initial is None and want is None):
                if want is not None and want > store.rv and not store.wait_for_rv(want):
                    error = too_large_rv(want, store.rv).status
                pos = store.rv
                initial = [store.objects[res.id][k] for k in sorted(store.objects[res.id])]
            elif want is None:
                pos = store.rv
            elif want < store.compacted:
                error = status_obj(410, "Expired",
                                   f"too old resource version: {want} ({store.compacted})")
                pos = want
            else:
                if want > store.rv and not store.wait_for_rv(want):
                    error = too_large_rv(want, store.rv).status
                pos = want
            drop_gen = store.drop_gen
        with app.lock:
            wid = app.next_watch_id
            app.next_watch_id += 1
            info = {"id": wid, "resource": res.id, "kind": res.kind, "namespace": ns, "name": name,
                    "resourceVersion": rv, "startedAtResourceVersion": pos,
                    "labelSelector": q.get("labelSelector"), "fieldSelector": q.get("fieldSelector"),
                    "allowWatchBookmarks": allow_bm, "sendInitialEvents": send_initial,
                    "timeoutSeconds": round(timeout, 3), "user": self.entry.get("user"),
                    "token": self.entry.get("token"), "table": fmt == "table",
                    "started": time.time(), "events": 0, "bookmarks": 0}
            # Before the response head goes out: a client that has the head may stall this stream.
            started_mono = time.monotonic()
            app.watches[wid] = {"info": info, "sock": self.request, "dropped": False}
        try:
            self.request.settimeout(None)
            self.start_response(200, {"Content-Type": "application/json",
                                      "Transfer-Encoding": "chunked"})
            if error is not None:
                self.write_chunk((dumps({"type": "ERROR", "object": error}) + "\n").encode())
                self.write_chunk(b"")
                return
            self.watch_loop(res, ns, name, labels, fields, allow_bm, send_initial, timeout,
                            initial, pos, drop_gen, info, fmt, tv, q, started_mono)
        finally:
            with app.lock:
                app.watches.pop(wid, None)
            try:
                self.request.settimeout(self.timeout)
            except OSError:
                pass

    def watch_loop(self, res, ns, name, labels, fields, allow_bm, send_initial, timeout, initial,
                   pos, drop_gen, info, fmt, tv, q, watch_started):
        app = self.server.app
        store = app.store
        prefix = ns + "/" if (ns and res.namespaced) else None
        first_table = [True]

        def matches(o):
            md = o["metadata"]
            if name is not None and md.get("name") != name:
                return False
            return labels_match(labels, md.get("labels")) and fields_match(fields, o)

        def encode(typ, obj, cached=None):
            if fmt == "table" and typ in ("ADDED", "MODIFIED", "DELETED"):
                t = self.table(res, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]},
                               tv, q, columns=True)
                first_table[0] = False
                return (dumps({"type": typ, "object": t}) + "\n").encode()
            if cached is not None:
                return cached
            return (dumps({"type": typ, "object": obj}) + "\n").encode()

        def transform(ev):
            if ev.res is not res or (prefix is not None and not ev.key.startswith(prefix)):
                return None
            cur_ok = ev.type != "DELETED" and matches(ev.obj)
            old_ok = ev.prev is not None and matches(ev.prev)
            if cur_ok:
                typ = "MODIFIED" if old_ok else "ADDED"
                return encode(typ, ev.obj, ev.line() if typ == ev.type and fmt != "table" else None)
            if old_ok:
                if ev.type == "DELETED":
                    return encode("DELETED", ev.obj, ev.line() if fmt != "table" else None)
                gone = dict(ev.prev)
                gone["metadata"] = dict(gone["metadata"], resourceVersion=str(ev.rv))
                return encode("DELETED", gone)
            return None

        def bookmark(rv, initial_end=False):
            md = {"resourceVersion": str(rv), "creationTimestamp": None}
            if initial_end:
                md["annotations"] = {"k8s.io/initial-events-end": "true"}
            obj = {"kind": res.kind, "apiVersion": res.gv, "metadata": md}
            obj.update(ZERO_BODIES.get(res.kind, {}))
            return (dumps({"type": "BOOKMARK", "object": obj}) + "\n").encode()

        start = time.monotonic()
        deadline = start + timeout
        interval = app.args.bookmark_interval

        def next_bookmark(now):
            if not allow_bm:
                return None
            t = now + interval
            pre = deadline - 2.0
            if pre < t:
                t = pre
            return None if t < now else t

        pending = []
        for o in initial:
            if prefix is not None and not o["metadata"].get("namespace", "") + "/" == prefix:
                continue
            if matches(o):
                pending.append(encode("ADDED", o))
        if send_initial:
            pending.append(bookmark(pos, initial_end=True))
        nbm = next_bookmark(start)
        while True:
            with store.cond:
                check_client_at = time.monotonic() + 0.5
                while True:
                    if store.drop_gen != drop_gen:
                        raise AbortConnection()
                    now = time.monotonic()
                    stalled = now < store.stall_until and watch_started < store.stall_set_at
                    if store.rv > pos or now >= deadline or now >= check_client_at:
                        break
                    if pending and not stalled:
                        break
                    if nbm is not None and now >= nbm and not stalled:
                        break
                    wake = min(deadline, check_client_at)
                    if nbm is not None:
                        wake = min(wake, max(nbm, store.stall_until if stalled else nbm))
                    if stalled:
                        wake = min(wake, store.stall_until)
                    store.cond.wait(max(0.01, wake - now))
                if pos < store.compacted:
                    # events this watcher still needed were compacted away: the real server
                    # terminates a watcher that falls this far behind
                    lagging = True
                    new_events = []
                else:
                    lagging = False
                    new_events = store.events_after(pos)
                    pos = store.rv
                stalled = (time.monotonic() < store.stall_until
                           and watch_started < store.stall_set_at)
            for ev in new_events:
                line = transform(ev)
                if line is not None:
                    pending.append(line)
            if self.client_gone():
                raise AbortConnection()
            if stalled:
                continue
            if pending:
                for line in pending:
                    self.write_chunk(line)
                info["events"] += len(pending)
                pending = []
            if lagging:
                self.write_chunk(b"")
                return
            now = time.monotonic()
            if nbm is not None and now >= nbm:
                self.write_chunk(bookmark(pos))
                info["bookmarks"] += 1
                nbm = next_bookmark(now)
            if now >= deadline:
                self.write_chunk(b"")
                return


class _Done(Exception):
    pass


class ApiServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    request_queue_size = 256

    def __init__(self, addr, app, ctx):
        self.app = app
        super().__init__(addr, ApiHandler)
        self.socket = ctx.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def handle_error(self, request, client_address):
        if self.app.args.verbose:
            super().handle_error(request, client_address)


# ----------------------------------------------------------------------------------------------
# The control API (plain HTTP, loopback)
# ----------------------------------------------------------------------------------------------

class ControlHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "portico-kube-standin-control/1"
    disable_nagle_algorithm = True

    def log_message(self, fmt, *a):
        if self.server.app.args.verbose:
            sys.stderr.write("control: " + (fmt % a) + "\n")

    def reply(self, code, obj):
        body = (json.dumps(obj, indent=1) + "\n").encode() if not isinstance(obj, bytes) else obj
        self.send_response(code)
        self.send_header("Content-Type", "application/json" if not isinstance(obj, bytes)
                         else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        raw = self.raw_body
        return json.loads(raw) if raw.strip() else {}

    def do_GET(self):
        self.dispatch()

    do_POST = do_DELETE = do_PUT = do_GET

    def dispatch(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.raw_body = self.rfile.read(n) if n > 0 else b""  # always consumed (keep-alive)
        try:
            self.route()
        except ApiError as e:
            self.reply(e.code, e.status)
        except (ValueError, KeyError, TypeError) as e:
            self.reply(400, {"error": f"{type(e).__name__}: {e}"})

    def route(self):
        app = self.server.app
        store = app.store
        parsed = urllib.parse.urlsplit(self.path)
        path = parsed.path.rstrip("/") or "/"
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(parsed.query, keep_blank_values=True).items()}
        m = self.command
        if path == "/healthz":
            return self.reply(200, b"ok")
        if path == "/objects" and m == "POST":
            body = self.body()
            items = body.get("items", []) if body.get("kind") == "List" else [body]
            out = []
            for item in items:
                res = RES_BY_GV_KIND.get((item.get("apiVersion"), item.get("kind")))
                if res is None:
                    raise ApiError(status_obj(400, "BadRequest",
                                              f"unknown kind {item.get('apiVersion')}/"
                                              f"{item.get('kind')}"))
                ns = (item.get("metadata") or {}).get("namespace") if res.namespaced else None
                obj, _ = store.create(res, ns or ("default" if res.namespaced else None), item,
                                      manager="portico-test-control", control=True)
                out.append(obj)
            return self.reply(200, {"resourceVersion": str(store.rv), "items": out})
        if path == "/objects" and m == "GET":
            res_list = RESOURCES
            if q.get("resource"):
                r = find_resource(q["resource"])
                if r is None:
                    return self.reply(404, {"error": f"unknown resource {q['resource']}"})
                res_list = [r]
            items = []
            with store.cond:
                for r in res_list:
                    for k in sorted(store.objects[r.id]):
                        o = store.objects[r.id][k]
                        md = o["metadata"]
                        if q.get("namespace") and md.get("namespace") != q["namespace"]:
                            continue
                        if q.get("name") and md.get("name") != q["name"]:
                            continue
                        items.append(o)
                rv = str(store.rv)
            return self.reply(200, {"resourceVersion": rv, "items": items})
        if (path.startswith("/objects/") and m == "DELETE") or (path == "/delete" and m == "POST"):
            if path == "/delete":
                b = self.body()
                res = RES_BY_GV_KIND.get((b.get("apiVersion"), b.get("kind"))) or find_resource(
                    b.get("resource"))
                ns, name = b.get("namespace"), b.get("name")
            else:
                parts = path.split("/")[2:]
                if len(parts) < 4:
                    return self.reply(400, {"error": "use /objects/{apiVersion}/{namespace|_}/"
                                                     "{resource}/{name}"})
                gv, ns, plural, name = "/".join(parts[:-3]), parts[-3], parts[-2], parts[-1]
                res = RES_BY_GV_PLURAL.get((gv, plural))
            if res is None:
                return self.reply(404, {"error": "unknown resource"})
            if not res.namespaced or ns in ("_", ""):
                ns = None if not res.namespaced else (ns if ns not in ("_", "") else "default")
            obj, _ = store.delete(res, ns, name, control=True)
            return self.reply(200, {"resourceVersion": str(store.rv), "object": obj})
        if path == "/compact" and m == "POST":
            rv = store.compact()
            return self.reply(200, {"compacted": str(rv)})
        if path == "/state" and m == "GET":
            with store.cond:
                st = {"resourceVersion": str(store.rv), "compacted": str(store.compacted),
                      "events": len(store.events),
                      "objects": {r.id: len(store.objects[r.id]) for r in RESOURCES}}
            return self.reply(200, st)
        if path == "/drop-watches" and m == "POST":
            with app.lock:
                ws = list(app.watches.values())
            with store.cond:
                store.drop_gen += 1
                store.cond.notify_all()
            for w in ws:
                w["dropped"] = True
                try:
                    socket.socket.shutdown(w["sock"], socket.SHUT_RDWR)
                except OSError:
                    pass
            return self.reply(200, {"dropped": len(ws)})
        if path == "/stall-watches" and m == "POST":
            secs = float(q.get("seconds") or self.body().get("seconds", 0))
            with store.cond:
                store.stall_set_at = time.monotonic()
                store.stall_until = store.stall_set_at + secs
                store.cond.notify_all()
            return self.reply(200, {"stalled_seconds": secs})
        if path == "/delay" and m == "POST":
            ms = int(q.get("ms") or self.body().get("ms", 0))
            with app.lock:
                app.delay_ms = ms
            return self.reply(200, {"delay_ms": ms})
        if path == "/tokens" and m == "POST":
            tokens = self.body().get("tokens", [])
            app.set_tokens(tokens)
            write_token_files(app, tokens)
            return self.reply(200, {"tokens": len(tokens)})
        if path == "/tokens" and m == "GET":
            with app.lock:
                return self.reply(200, {"tokens": list(app.tokens)})
        if path == "/forbid" and m == "POST":
            rule = self.body()
            with app.lock:
                app.forbid_rules.append(rule)
            return self.reply(200, {"rules": app.forbid_rules})
        if path == "/allow" and m == "POST":
            b = self.body()
            with app.lock:
                if b.get("resource"):
                    app.forbid_rules = [r for r in app.forbid_rules
                                        if r.get("resource") != b["resource"]]
                else:
                    app.forbid_rules = []
                return self.reply(200, {"rules": app.forbid_rules})
        if path == "/fail-next" and m == "POST":
            rule = self.body()
            rule.setdefault("count", 1)
            rule.setdefault("status", 500)
            with app.lock:
                app.fail_rules.append(rule)
                return self.reply(200, {"rules": app.fail_rules})
        if path == "/fail-next/clear" and m == "POST":
            with app.lock:
                app.fail_rules = []
            return self.reply(200, {"rules": []})
        if path == "/requests" and m == "GET":
            with app.lock:
                reqs = list(app.requests)
            return self.reply(200, {"requests": reqs})
        if path == "/requests/clear" and m == "POST":
            with app.lock:
                app.requests = []
            return self.reply(200, {"requests": []})
        if path == "/watches" and m == "GET":
            with app.lock:
                ws = [dict(w["info"]) for w in app.watches.values() if not w["dropped"]]
            return self.reply(200, {"watches": ws})
        return self.reply(404, {"error": f"no control endpoint {m} {path}"})


class ControlServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, addr, app):
        self.app = app
        super().__init__(addr, ControlHandler)


# ----------------------------------------------------------------------------------------------
# Certificates, kubeconfigs, main
# ----------------------------------------------------------------------------------------------

def run_openssl(*args):
    subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def make_pki(d):
    ca_key, ca_crt = os.path.join(d, "ca.key"), os.path.join(d, "ca.crt")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    if not (os.path.exists(ca_key) and os.path.exists(ca_crt)):
        run_openssl("req", "-x509", *ec, "-keyout", ca_key, "-out", ca_crt, "-days", "3650",
                    "-subj", "/CN=portico-test-ca",
                    "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature")
    for name, subj, ext in (
            ("server", "/CN=kube-apiserver",
             "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
             "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost,"
             "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,"
             "DNS:kubernetes.default.svc.cluster.local\n"),
            ("client", "/O=portico-test/CN=portico-client",
             "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
             "extendedKeyUsage=clientAuth\n")):
        key, crt = os.path.join(d, name + ".key"), os.path.join(d, name + ".crt")
        if os.path.exists(key) and os.path.exists(crt):
            continue
        csr, extf = os.path.join(d, name + ".csr"), os.path.join(d, name + ".ext")
        with open(extf, "w") as f:
            f.write(ext)
        run_openssl("req", *ec, "-keyout", key, "-out", csr, "-subj", subj)
        run_openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
                    "-CAcreateserial", "-out", crt, "-days", "3650", "-extfile", extf)
        os.remove(csr)
        os.remove(extf)


def write_file(path, text, mode=0o600):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def kubeconfig(server, ca, user_block):
    return (f"apiVersion: v1\nkind: Config\nclusters:\n- name: portico-test\n  cluster:\n"
            f"    server: {server}\n    certificate-authority: {ca}\nusers:\n"
            f"- name: portico-test\n  user:\n{user_block}contexts:\n- name: portico-test\n"
            f"  context:\n    cluster: portico-test\n    user: portico-test\n"
            f"    namespace: default\ncurrent-context: portico-test\npreferences: {{}}\n")


def write_token_files(app, tokens):
    d = app.args.state_dir
    first = tokens[0] if tokens else ""
    if isinstance(first, dict):
        first = first.get("token", "")
    write_file(os.path.join(d, "token"), str(first))
    os.makedirs(os.path.join(d, "serviceaccount"), exist_ok=True)
    write_file(os.path.join(d, "serviceaccount", "token"), str(first))
    server = f"https://127.0.0.1:{app.port}"
    ca = os.path.join(d, "ca.crt")
    write_file(os.path.join(d, "kubeconfig"),
               kubeconfig(server, ca, f"    token: {first}\n"))


def write_state(app):
    d = app.args.state_dir
    ca = os.path.join(d, "ca.crt")
    server = f"https://127.0.0.1:{app.port}"
    write_token_files(app, app.args.token)
    write_file(os.path.join(d, "kubeconfig-cert"), kubeconfig(
        server, ca, f"    client-certificate: {os.path.join(d, 'client.crt')}\n"
                    f"    client-key: {os.path.join(d, 'client.key')}\n"))
    sa = os.path.join(d, "serviceaccount")
    os.makedirs(sa, exist_ok=True)
    with open(ca) as f:
        write_file(os.path.join(sa, "ca.crt"), f.read(), 0o644)
    write_file(os.path.join(sa, "namespace"), "portico-system", 0o644)
    write_file(os.path.join(d, "endpoint"), f"{server}\n127.0.0.1 {app.port} {app.control_port}\n",
               0o644)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--state-dir", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--control-port", type=int, default=0)
    p.add_argument("--bookmark-interval", type=float, default=60.0)
    p.add_argument("--token", action="append", default=[])
    p.add_argument("--min-request-timeout", type=float, default=1800.0,
                   help="a watch without timeoutSeconds lasts between this and twice this")
    p.add_argument("--history-limit", type=int, default=100000,
                   help="events kept before automatic compaction")
    p.add_argument("--history-max-mib", type=int, default=512,
                   help="serialized size of the kept events before automatic compaction")
    p.add_argument("--initial-resource-version", type=int, default=0)
    p.add_argument("--no-seed", action="store_true",
                   help="do not create the default namespaces and the kubernetes Service")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args(argv)
    args.state_dir = os.path.abspath(args.state_dir)
    os.makedirs(args.state_dir, exist_ok=True)
    if not args.token:
        args.token = [os.urandom(16).hex()]

    make_pki(args.state_dir)
    app = App(args)
    app.set_tokens(args.token)
    if not args.no_seed:
        app.store.seed()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(os.path.join(args.state_dir, "server.crt"),
                        os.path.join(args.state_dir, "server.key"))
    ctx.load_verify_locations(os.path.join(args.state_dir, "ca.crt"))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(["http/1.1"])

    api = ApiServer(("127.0.0.1", args.port), app, ctx)
    control = ControlServer(("127.0.0.1", args.control_port), app)
    app.port = api.server_address[1]
    app.control_port = control.server_address[1]
    write_state(app)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    for srv in (api, control):
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2},
                         daemon=True).start()
    print(f"listening https://127.0.0.1:{app.port} control http://127.0.0.1:{app.control_port}",
          flush=True)
    while not stop.wait(1.0):
        pass
    api.shutdown()
    control.shutdown()
    with app.lock:
        ws = list(app.watches.values())
    for w in ws:
        try:
            socket.socket.shutdown(w["sock"], socket.SHUT_RDWR)
        except OSError:
            pass
    api.server_close()
    control.server_close()
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
