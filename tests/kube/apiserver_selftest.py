#!/usr/bin/env python3
"""Protocol self-test of the Kubernetes API server stand-in (tests/kube/apiserver.py).

Starts the stand-in, talks to it over HTTPS with http.client, and checks the kube-apiserver
behaviour the C++ client tests rely on. Run: python3 tests/kube/apiserver_selftest.py
"""

import base64
import http.client
import json
import os
import select
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
STANDIN = os.path.join(HERE, "apiserver.py")
TOKEN = "selftest-token"


class StandIn:
    def __init__(self, *flags):
        self.dir = tempfile.mkdtemp(prefix="kube-standin-")
        self.proc = subprocess.Popen(
            [sys.executable, STANDIN, "--state-dir", self.dir, "--token", TOKEN, *flags],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        assert line and line[0] == "listening", line
        self.port = int(line[1].rsplit(":", 1)[1])
        self.cport = int(line[3].rsplit(":", 1)[1])
        self.ctx = ssl.create_default_context(cafile=os.path.join(self.dir, "ca.crt"))
        self.cert_ctx = ssl.create_default_context(cafile=os.path.join(self.dir, "ca.crt"))
        self.cert_ctx.load_cert_chain(os.path.join(self.dir, "client.crt"),
                                      os.path.join(self.dir, "client.key"))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(10)
        subprocess.run(["rm", "-rf", self.dir])
        return rc

    # -- API ---------------------------------------------------------------------------------

    def conn(self, cert=False, timeout=30):
        return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                           context=self.cert_ctx if cert else self.ctx)

    def req(self, method, path, body=None, ctype="application/json", token=TOKEN, cert=False,
            headers=None):
        c = self.conn(cert)
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            h["Content-Type"] = ctype
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        raw = r.read()
        c.close()
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = raw
        return r.status, doc, r

    def get(self, path, **kw):
        return self.req("GET", path, **kw)

    def watch(self, path, token=TOKEN, read_timeout=10, headers=None):
        return Watch(self, path, token, read_timeout, headers)

    # -- control -----------------------------------------------------------------------------

    def ctl(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.cport, timeout=60)
        c.request(method, path, body=None if body is None else json.dumps(body),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        raw = r.read()
        c.close()
        return json.loads(raw) if raw.strip().startswith((b"{", b"[")) else raw

    def put_objects(self, *objs):
        if len(objs) == 1:
            return self.ctl("POST", "/objects", objs[0])["items"]
        return self.ctl("POST", "/objects", {"apiVersion": "v1", "kind": "List",
                                             "items": list(objs)})["items"]

    def rv(self):
        return int(self.ctl("GET", "/state")["resourceVersion"])


class Watch:
    def __init__(self, s, path, token, read_timeout, headers):
        self.c = s.conn(timeout=read_timeout)
        h = {"Authorization": "Bearer " + token}
        h.update(headers or {})
        self.c.request("GET", path, headers=h)
        self.r = self.c.getresponse()
        self.status = self.r.status
        self.buf = b""

    def next(self):
        """The next event; None at a clean end of the stream (the terminating chunk). Raises
        http.client.IncompleteRead when the stream breaks off, socket.timeout when idle."""
        while b"\n" not in self.buf:
            data = self.r.read1(65536)  # raises IncompleteRead without the terminating chunk
            if not data:
                if self.buf:
                    raise http.client.IncompleteRead(self.buf)
                return None
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def idle_for(self, seconds):
        """True when nothing arrives for this long (leaves the socket usable)."""
        if self.buf or self.c.sock.pending():
            return False
        r, _, _ = select.select([self.c.sock], [], [], seconds)
        return not r

    def events(self, n):
        return [self.next() for _ in range(n)]

    def rest(self):
        out = []
        while True:
            e = self.next()
            if e is None:
                return out
            out.append(e)

    def close(self):
        for x in (self.r, self.c):
            try:
                x.close()
            except OSError:
                pass


def ing(name, ns="default", host="a.example", labels=None, **extra):
    o = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
         "metadata": {"name": name, "namespace": ns},
         "spec": {"rules": [{"host": host, "http": {"paths": [
             {"path": "/", "pathType": "Prefix",
              "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}}
    if labels is not None:
        o["metadata"]["labels"] = labels
    o.update(extra)
    return o


def secret(name, ns="default", typ="Opaque", labels=None):
    o = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns},
         "type": typ, "data": {"k": "dg=="}}
    if labels is not None:
        o["metadata"]["labels"] = labels
    return o


def namespace(name):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


S = None


def setUpModule():
    global S
    S = StandIn("--bookmark-interval", "1")


def tearDownModule():
    assert S.stop() == 0


ING = "/apis/networking.k8s.io/v1"
SLICES = "/apis/discovery.k8s.io/v1"


class Discovery(unittest.TestCase):
    def test_version_and_groups(self):
        st, v, _ = S.get("/version")
        self.assertEqual((st, v["major"], v["minor"]), (200, "1", "32"))
        st, d, r = S.get("/api")
        self.assertEqual((d["kind"], d["versions"]), ("APIVersions", ["v1"]))
        st, d, r = S.get("/apis", headers={"Accept": "application/json;g=apidiscovery.k8s.io;"
                                                     "v=v2;as=APIGroupDiscoveryList,application/json"})
        self.assertEqual(r.getheader("Content-Type"), "application/json")
        self.assertEqual({g["name"] for g in d["groups"]},
                         {"networking.k8s.io", "discovery.k8s.io", "coordination.k8s.io",
                          "events.k8s.io"})
        st, d, _ = S.get(ING)
        names = {x["name"]: x for x in d["resources"]}
        self.assertEqual(names["ingresses"]["shortNames"], ["ing"])
        self.assertFalse(names["ingressclasses"]["namespaced"])
        self.assertEqual(names["ingresses/status"]["verbs"], ["get", "patch", "update"])

    def test_unknown_paths(self):
        st, d, _ = S.get("/api/v1/foos")
        self.assertEqual((st, d["reason"], d["message"]),
                         (404, "NotFound", "the server could not find the requested resource"))
        st, d, _ = S.req("POST", ING + "/namespaces/default/ingresses/x", body=ing("x"))
        self.assertEqual((st, d["reason"]), (405, "MethodNotAllowed"))

    def test_keepalive(self):
        c = S.conn()
        for _ in range(3):
            c.request("GET", "/api/v1/namespaces/default",
                      headers={"Authorization": "Bearer " + TOKEN})
            r = c.getresponse()
            self.assertEqual(json.loads(r.read())["metadata"]["name"], "default")
        c.close()


class Writes(unittest.TestCase):
    def test_create(self):
        st, d, _ = S.req("POST", "/api/v1/namespaces", body=namespace("wr"))
        self.assertEqual(st, 201)
        self.assertEqual(d["metadata"]["labels"]["kubernetes.io/metadata.name"], "wr")
        self.assertEqual(d["status"]["phase"], "Active")
        st, d, _ = S.req("POST", ING + "/namespaces/wr/ingresses",
                         body=ing("x", "wr", status={"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}))
        self.assertEqual(st, 201)
        md = d["metadata"]
        self.assertEqual((d["kind"], md["generation"]), ("Ingress", 1))
        self.assertTrue(md["uid"] and md["creationTimestamp"].endswith("Z"))
        self.assertTrue(md["resourceVersion"].isdigit())
        self.assertEqual(d["status"], {"loadBalancer": {}}, "create resets status")
        st, d, _ = S.req("POST", ING + "/namespaces/wr/ingresses", body=ing("x", "wr"))
        self.assertEqual((st, d["reason"], d["message"]),
                         (409, "AlreadyExists", 'ingresses.networking.k8s.io "x" already exists'))
        self.assertEqual(d["details"], {"name": "x", "group": "networking.k8s.io",
                                        "kind": "ingresses"})
        st, d, _ = S.req("POST", ING + "/namespaces/nope/ingresses", body=ing("x", "nope"))
        self.assertEqual((st, d["message"]), (404, 'namespaces "nope" not found'))
        st, d, _ = S.req("POST", ING + "/namespaces/wr/ingresses", body=ing("y", "other"))
        self.assertEqual(st, 400)
        bad = ing("z", "wr")
        del bad["spec"]["rules"][0]["http"]["paths"][0]["pathType"]
        st, d, _ = S.req("POST", ING + "/namespaces/wr/ingresses", body=bad)
        self.assertEqual((st, d["reason"]), (422, "Invalid"))
        self.assertEqual(d["message"], 'Ingress.networking.k8s.io "z" is invalid: '
                                       "spec.rules[0].http.paths[0].pathType: Required value: "
                                       "pathType must be specified")
        st, d, _ = S.req("POST", ING + "/namespaces/wr/ingresses",
                         body=dict(ing("", "wr"), metadata={"generateName": "gen-"}))
        self.assertEqual(st, 201)
        self.assertTrue(d["metadata"]["name"].startswith("gen-") and len(d["metadata"]["name"]) == 9)
        svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
               "spec": {"ports": [{"port": 80}]}}
        st, d, _ = S.req("POST", "/api/v1/namespaces/wr/services", body=svc)
        self.assertEqual((d["spec"]["ports"][0]["targetPort"], d["spec"]["type"]), (80, "ClusterIP"))
        self.assertTrue(d["spec"]["clusterIP"].startswith("10.96."))

    def test_update_conflict_and_status(self):
        S.put_objects(ing("u1"))
        st, cur, _ = S.get(ING + "/namespaces/default/ingresses/u1")
        S.put_objects(ing("u1", host="b.example"))
        st, d, _ = S.req("PUT", ING + "/namespaces/default/ingresses/u1", body=cur)
        self.assertEqual((st, d["reason"], d["code"]), (409, "Conflict", 409))
        unconditional = dict(cur)
        unconditional["metadata"] = {k: v for k, v in cur["metadata"].items()
                                     if k != "resourceVersion"}
        unconditional["spec"] = ing("u1", host="c.example")["spec"]
        st, d, _ = S.req("PUT", ING + "/namespaces/default/ingresses/u1", body=unconditional)
        self.assertEqual((st, d["spec"]["rules"][0]["host"]), (200, "c.example"))
        self.assertEqual(d["metadata"]["generation"], 3)
        st, d, _ = S.req("PUT", ING + "/namespaces/default/ingresses/missing", body=ing("missing"))
        self.assertEqual((st, d["message"]), (404, 'ingresses.networking.k8s.io "missing" not found'))
        st, d, _ = S.req("PUT", ING + "/namespaces/default/ingresses/other", body=ing("u1"))
        self.assertEqual(st, 400)
        # a no-op update keeps the resourceVersion
        before = S.get(ING + "/namespaces/default/ingresses/u1")[1]
        st, same, _ = S.req("PUT", ING + "/namespaces/default/ingresses/u1", body=before)
        self.assertEqual((st, same["metadata"]["resourceVersion"]),
                         (200, before["metadata"]["resourceVersion"]))
        # status subresource
        obj = S.get(ING + "/namespaces/default/ingresses/u1")[1]
        rv = obj["metadata"]["resourceVersion"]
        obj["status"] = {"loadBalancer": {"ingress": [{"hostname": "lb.example"}]}}
        obj["spec"]["rules"][0]["host"] = "ignored.example"
        st, d, _ = S.req("PUT", ING + "/namespaces/default/ingresses/u1/status", body=obj)
        self.assertEqual(st, 200)
        self.assertEqual(d["spec"]["rules"][0]["host"], "c.example")
        self.assertEqual(d["status"]["loadBalancer"]["ingress"][0]["hostname"], "lb.example")
        self.assertGreater(int(d["metadata"]["resourceVersion"]), int(rv))
        st, d, _ = S.req("PUT", ING + "/namespaces/default/ingresses/u1/status", body=obj)
        self.assertEqual((st, d["reason"]), (409, "Conflict"))
        st, d, _ = S.req("PATCH", ING + "/namespaces/default/ingresses/u1/status",
                         body={"status": {"loadBalancer": {"ingress": [{"ip": "10.1.1.1"}]}}},
                         ctype="application/merge-patch+json")
        self.assertEqual(d["status"]["loadBalancer"]["ingress"], [{"ip": "10.1.1.1"}])
        st, d, _ = S.req("PATCH", ING + "/namespaces/default/ingresses/u1",
                         body={"status": {"loadBalancer": {}}, "metadata": {"labels": {"a": "b"}}},
                         ctype="application/merge-patch+json")
        self.assertEqual(d["status"]["loadBalancer"]["ingress"], [{"ip": "10.1.1.1"}])
        self.assertEqual(d["metadata"]["labels"], {"a": "b"})

    def test_lease_optimistic_concurrency(self):
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                 "metadata": {"name": "portico-leader", "namespace": "portico-system"},
                 "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}}
        path = "/apis/coordination.k8s.io/v1/namespaces/portico-system/leases/portico-leader"
        st, d, _ = S.req("PUT", path, body=lease)  # leases allow create on update
        self.assertEqual(st, 201)
        mine = dict(d, spec=dict(d["spec"], holderIdentity="b"))
        theirs = dict(d, spec=dict(d["spec"], holderIdentity="c"))
        self.assertEqual(S.req("PUT", path, body=mine)[0], 200)
        st, e, _ = S.req("PUT", path, body=theirs)
        self.assertEqual((st, e["message"]), (409, 'Operation cannot be fulfilled on '
                                                   'leases.coordination.k8s.io "portico-leader": '
                                                   "the object has been modified; please apply "
                                                   "your changes to the latest version and try again"))
        self.assertNotIn("generation", d["metadata"])

    def test_patches(self):
        svc = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "p", "namespace": "default", "annotations": {"x": "1", "y": "2"}},
               "spec": {"ports": [{"name": "a", "port": 80, "targetPort": 8080},
                                  {"name": "b", "port": 443, "targetPort": 8443}]}}
        S.put_objects(svc)
        path = "/api/v1/namespaces/default/services/p"
        st, d, _ = S.req("PATCH", path, body={"metadata": {"annotations": {"x": None, "z": "3"}}},
                         ctype="application/merge-patch+json")
        self.assertEqual((st, d["metadata"]["annotations"]), (200, {"y": "2", "z": "3"}))
        smp = {"spec": {"$setElementOrder/ports": [{"port": 443}, {"port": 80}],
                        "ports": [{"port": 443, "targetPort": 9443}]}}
        st, d, _ = S.req("PATCH", path, body=smp, ctype="application/strategic-merge-patch+json")
        self.assertEqual([(p["port"], p["targetPort"], p["name"]) for p in d["spec"]["ports"]],
                         [(443, 9443, "b"), (80, 8080, "a")])
        smp = {"spec": {"ports": [{"port": 80, "$patch": "delete"}]}}
        st, d, _ = S.req("PATCH", path, body=smp, ctype="application/strategic-merge-patch+json")
        self.assertEqual([p["port"] for p in d["spec"]["ports"]], [443])
        st, d, _ = S.req("PATCH", path, body=[{"op": "replace", "path": "/spec/ports/0/targetPort",
                                               "value": 1}, {"op": "add", "path": "/metadata/labels",
                                                             "value": {"l": "v"}}],
                         ctype="application/json-patch+json")
        self.assertEqual((d["spec"]["ports"][0]["targetPort"], d["metadata"]["labels"]), (1, {"l": "v"}))
        st, d, _ = S.req("PATCH", path, body={"metadata": {"resourceVersion": "1"}},
                         ctype="application/merge-patch+json")
        self.assertEqual(st, 409)
        st, d, _ = S.req("PATCH", path, body="{}", ctype="text/plain")
        self.assertEqual((st, d["reason"]), (415, "UnsupportedMediaType"))
        st, d, _ = S.req("PATCH", path, body={}, ctype="application/apply-patch+yaml")
        self.assertEqual(st, 422)
        st, d, _ = S.req("PATCH", "/api/v1/namespaces/default/services/none", body={},
                         ctype="application/merge-patch+json")
        self.assertEqual((st, d["message"]), (404, 'services "none" not found'))
        st, d, _ = S.req("PATCH", "/api/v1/namespaces/default/services/ssa?fieldManager=t",
                         body=dict(svc, metadata={"name": "ssa"}), ctype="application/apply-patch+yaml")
        self.assertEqual(st, 201)

    def test_delete(self):
        S.put_objects(ing("d1"), ing("d2", labels={"gone": "yes"}), ing("d3", labels={"gone": "yes"}))
        st, d, _ = S.req("DELETE", ING + "/namespaces/default/ingresses/d1")
        self.assertEqual((st, d["kind"], d["status"], d["details"]["name"]), (200, "Status", "Success", "d1"))
        self.assertIn("uid", d["details"])
        st, d, _ = S.req("DELETE", ING + "/namespaces/default/ingresses/d1")
        self.assertEqual(st, 404)
        st, d, _ = S.req("DELETE", ING + "/namespaces/default/ingresses?labelSelector=gone%3Dyes")
        self.assertEqual((st, d["kind"], [i["metadata"]["name"] for i in d["items"]]),
                         (200, "IngressList", ["d2", "d3"]))
        # finalizers: deletion marks, removing the last finalizer deletes
        S.put_objects(dict(ing("f1"), metadata={"name": "f1", "namespace": "default",
                                                "finalizers": ["portico.dev/x"]}))
        w = S.watch(ING + f"/namespaces/default/ingresses?watch=1&resourceVersion={S.rv()}")
        st, d, _ = S.req("DELETE", ING + "/namespaces/default/ingresses/f1")
        self.assertEqual((st, d["kind"]), (200, "Ingress"))
        self.assertIn("deletionTimestamp", d["metadata"])
        e = w.next()
        self.assertEqual((e["type"], "deletionTimestamp" in e["object"]["metadata"]), ("MODIFIED", True))
        st, d, _ = S.req("PATCH", ING + "/namespaces/default/ingresses/f1",
                         body={"metadata": {"finalizers": None}}, ctype="application/merge-patch+json")
        self.assertEqual(st, 200)
        self.assertEqual(w.next()["type"], "DELETED")
        self.assertEqual(S.get(ING + "/namespaces/default/ingresses/f1")[0], 404)
        w.close()
        # services answer a delete with the object
        S.put_objects({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ds", "namespace": "default"},
                       "spec": {"ports": [{"port": 80}]}})
        st, d, _ = S.req("DELETE", "/api/v1/namespaces/default/services/ds")
        self.assertEqual((st, d["kind"]), (200, "Service"))

    def test_namespace_delete_cascades(self):
        S.put_objects(namespace("casc"), ing("c1", "casc"), secret("c2", "casc"))
        w = S.watch(ING + f"/ingresses?watch=1&resourceVersion={S.rv()}")
        st, d, _ = S.req("DELETE", "/api/v1/namespaces/casc")
        self.assertEqual((st, d["status"]["phase"]), (200, "Terminating"))
        e = w.next()
        self.assertEqual((e["type"], e["object"]["metadata"]["name"]), ("DELETED", "c1"))
        self.assertEqual(S.get("/api/v1/namespaces/casc/secrets/c2")[0], 404)
        w.close()


class Lists(unittest.TestCase):
    def names(self, doc):
        return [i["metadata"]["name"] for i in doc["items"]]

    def test_pagination_snapshot(self):
        S.put_objects(*[secret(f"s{i}", "pg", labels={"i": str(i)}) for i in range(7)])
        base = "/api/v1/namespaces/pg/secrets"
        st, p1, _ = S.get(base + "?limit=3")
        self.assertEqual(self.names(p1), ["s0", "s1", "s2"])
        self.assertEqual(p1["metadata"]["remainingItemCount"], 4)
        self.assertNotIn("kind", p1["items"][0])
        rv = p1["metadata"]["resourceVersion"]
        S.put_objects(secret("s4", "pg", typ="Opaque", labels={"i": "changed"}))
        S.ctl("DELETE", "/objects/v1/pg/secrets/s5")
        st, p2, _ = S.get(base + "?limit=3&continue=" + urllib.parse.quote(p1["metadata"]["continue"]))
        self.assertEqual(self.names(p2), ["s3", "s4", "s5"])
        self.assertEqual(p2["items"][1]["metadata"]["labels"], {"i": "4"})
        self.assertEqual(p2["metadata"]["resourceVersion"], rv)
        self.assertEqual(p2["metadata"]["remainingItemCount"], 1)
        st, p3, _ = S.get(base + "?limit=3&continue=" + urllib.parse.quote(p2["metadata"]["continue"]))
        self.assertEqual(self.names(p3), ["s6"])
        self.assertNotIn("continue", p3["metadata"])
        self.assertNotIn("remainingItemCount", p3["metadata"])
        # exact list at the old resourceVersion
        st, old, _ = S.get(base + f"?resourceVersion={rv}&resourceVersionMatch=Exact")
        self.assertEqual((old["metadata"]["resourceVersion"], len(old["items"])), (rv, 7))
        st, legacy, _ = S.get(base + f"?resourceVersion={rv}&limit=10")  # legacy: exact
        self.assertEqual(len(legacy["items"]), 7)
        st, now, _ = S.get(base + f"?resourceVersion={rv}")  # not older than
        self.assertEqual(len(now["items"]), 6)
        st, any_, _ = S.get(base + "?resourceVersion=0&limit=2")  # watch cache ignores limit
        self.assertEqual((len(any_["items"]), "continue" in any_["metadata"]), (6, False))
        st, d, _ = S.get(base + "?limit=2&continue=garbage")
        self.assertEqual((st, d["reason"]), (400, "BadRequest"))
        st, d, _ = S.get(base + "?limit=2&resourceVersion=5&continue=" + urllib.parse.quote(p1["metadata"]["continue"]))
        self.assertEqual((st, d["message"]), (400, "specifying resource version is not allowed when using continue"))
        st, d, _ = S.get(base + "?resourceVersionMatch=Exact")
        self.assertEqual((st, d["reason"]), (422, "Invalid"))
        # with a selector, remainingItemCount is unknown
        st, d, _ = S.get(base + "?limit=2&labelSelector=i")
        self.assertIn("continue", d["metadata"])
        self.assertNotIn("remainingItemCount", d["metadata"])

    def test_continue_after_compaction(self):
        S.put_objects(*[secret(f"s{i}", "pgc") for i in range(7)])
        base = "/api/v1/namespaces/pgc/secrets"
        st, p1, _ = S.get(base + "?limit=2")
        S.put_objects(secret("zz", "pgc"))
        S.ctl("POST", "/compact")
        st, d, _ = S.get(base + "?limit=2&continue=" + urllib.parse.quote(p1["metadata"]["continue"]))
        self.assertEqual((st, d["reason"], d["code"]), (410, "Expired", 410))
        self.assertTrue(d["message"].startswith("The provided continue parameter is too old to "
                                                "display a consistent list result."))
        tok = d["metadata"]["continue"]
        self.assertEqual(json.loads(base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4)))["rv"], -1)
        st, d2, _ = S.get(base + "?limit=100&continue=" + urllib.parse.quote(tok))
        self.assertEqual(st, 200)
        self.assertEqual(self.names(d2)[-1], "zz")
        self.assertEqual(self.names(d2)[0], self.names(S.get(base)[1])[2])
        st, d, _ = S.get(base + f"?resourceVersion={p1['metadata']['resourceVersion']}&resourceVersionMatch=Exact")
        self.assertEqual((st, d["message"]), (410, "The resourceVersion for the provided list is too old."))

    def test_label_selectors(self):
        S.put_objects(*[dict(secret(f"l{i}", "lab"), metadata={"name": f"l{i}", "namespace": "lab", "labels": lab})
                        for i, lab in enumerate([{"app": "a", "tier": "web"}, {"app": "b"}, {"tier": "db"}, {}])])
        base = "/api/v1/namespaces/lab/secrets?labelSelector="

        def sel(s):
            st, d, _ = S.get(base + urllib.parse.quote(s))
            self.assertEqual(st, 200, d)
            return self.names(d)
        self.assertEqual(sel("app=a"), ["l0"])
        self.assertEqual(sel("app==a"), ["l0"])
        self.assertEqual(sel("app!=a"), ["l1", "l2", "l3"])
        self.assertEqual(sel("app in (a, b)"), ["l0", "l1"])
        self.assertEqual(sel("app notin (a)"), ["l1", "l2", "l3"])
        self.assertEqual(sel("app"), ["l0", "l1"])
        self.assertEqual(sel("!app"), ["l2", "l3"])
        self.assertEqual(sel("app,tier=web"), ["l0"])
        self.assertEqual(sel("tier in (web,db),!app"), ["l2"])
        st, d, _ = S.get(base + urllib.parse.quote("app in a"))
        self.assertEqual((st, d["reason"]), (400, "BadRequest"))

    def test_field_selectors(self):
        S.put_objects(namespace("fs"), secret("t1", "fs", typ="kubernetes.io/tls"), secret("o1", "fs"),
                      secret("t2", "pgf", typ="kubernetes.io/tls"))
        st, d, _ = S.get("/api/v1/secrets?fieldSelector=type%3Dkubernetes.io/tls")
        self.assertEqual(self.names(d), ["t1", "t2"])  # ordered by storage key namespace/name
        st, d, _ = S.get("/api/v1/secrets?fieldSelector=type%3Dkubernetes.io/tls,metadata.namespace%3Dfs")
        self.assertEqual(self.names(d), ["t1"])
        st, d, _ = S.get("/api/v1/namespaces/fs/secrets?fieldSelector=metadata.name!%3Dt1")
        self.assertEqual(self.names(d), ["o1"])
        st, d, _ = S.get("/api/v1/services?fieldSelector=spec.foo%3D1")
        self.assertEqual((st, d["message"]), (400, "field label not supported: spec.foo"))
        st, d, _ = S.get(SLICES + "/endpointslices?fieldSelector=spec.foo%3D1")
        self.assertEqual(d["message"], '"spec.foo" is not a known field selector: only "metadata.name", "metadata.namespace"')
        st, d, _ = S.get("/api/v1/configmaps?fieldSelector=data%3D1")
        self.assertEqual(d["message"], 'field label "data" not supported for "ConfigMap"')

    def test_table(self):
        S.put_objects(*[secret(f"s{i}", "pgt") for i in range(3)])
        st, d, _ = S.get("/api/v1/namespaces/pgt/secrets?limit=2", headers={
            "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"})
        self.assertEqual((d["kind"], d["apiVersion"]), ("Table", "meta.k8s.io/v1"))
        self.assertEqual([c["name"] for c in d["columnDefinitions"]], ["Name", "Type", "Data", "Age"])
        self.assertEqual(d["rows"][0]["object"]["kind"], "PartialObjectMetadata")
        self.assertIn("continue", d["metadata"])
        st, d, _ = S.get("/api/v1/namespaces/pgt/secrets", headers={"Accept": "application/yaml"})
        self.assertEqual(st, 406)


class Watches(unittest.TestCase):
    def test_selector_transitions(self):
        rv = S.rv()
        w = S.watch(ING + f"/namespaces/wt/ingresses?watch=1&resourceVersion={rv}&labelSelector=app%3Da")
        S.put_objects(ing("x", "wt"))                        # not matching: nothing
        S.put_objects(ing("x", "wt", labels={"app": "a"}))   # starts matching: ADDED
        S.put_objects(ing("x", "other", labels={"app": "a"}))  # other namespace: nothing
        S.put_objects(ing("x", "wt", labels={"app": "a"}, host="h2"))  # MODIFIED
        removed = S.put_objects(ing("x", "wt", labels={"app": "b"}))[0]  # stops matching: DELETED
        S.ctl("DELETE", "/objects/networking.k8s.io/v1/wt/ingresses/x")  # not matching: nothing
        S.put_objects(ing("y", "wt", labels={"app": "a"}))   # ADDED
        ev = w.events(4)
        self.assertEqual([(e["type"], e["object"]["metadata"]["name"]) for e in ev],
                         [("ADDED", "x"), ("MODIFIED", "x"), ("DELETED", "x"), ("ADDED", "y")])
        deleted = ev[2]["object"]
        self.assertEqual(deleted["metadata"]["labels"], {"app": "a"}, "the last matching state")
        self.assertEqual(deleted["metadata"]["resourceVersion"], removed["metadata"]["resourceVersion"])
        self.assertEqual(deleted["spec"]["rules"][0]["host"], "h2")
        self.assertEqual(ev[0]["object"]["kind"], "Ingress")
        w.close()

    def test_initial_state_and_follow(self):
        S.put_objects(namespace("wi"), ing("b", "wi"), ing("a", "wi"))
        w = S.watch(ING + "/namespaces/wi/ingresses?watch=true")
        ev = w.events(2)
        self.assertEqual([(e["type"], e["object"]["metadata"]["name"]) for e in ev],
                         [("ADDED", "a"), ("ADDED", "b")])
        S.ctl("DELETE", "/objects/networking.k8s.io/v1/wi/ingresses/a")
        e = w.next()
        self.assertEqual((e["type"], e["object"]["metadata"]["name"]), ("DELETED", "a"))
        w.close()
        # the deprecated /watch/ path and a single named object
        w = S.watch(ING + "/watch/namespaces/wi/ingresses/b?timeoutSeconds=1")
        self.assertEqual([e["object"]["metadata"]["name"] for e in w.rest()], ["b"])

    def test_send_initial_events(self):
        S.put_objects(namespace("ws"), ing("a", "ws"))
        w = S.watch(ING + "/namespaces/ws/ingresses?watch=1&sendInitialEvents=true&"
                          "resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true")
        a, bm = w.events(2)
        self.assertEqual(a["type"], "ADDED")
        self.assertEqual(bm["type"], "BOOKMARK")
        self.assertEqual(bm["object"]["metadata"]["annotations"], {"k8s.io/initial-events-end": "true"})
        w.close()
        st, d, _ = S.get(ING + "/ingresses?watch=1&sendInitialEvents=true")
        self.assertEqual(st, 422)

    def test_timeout_ends_cleanly_with_bookmarks(self):
        t0 = time.monotonic()
        w = S.watch(ING + f"/ingresses?watch=1&resourceVersion={S.rv()}&allowWatchBookmarks=true&timeoutSeconds=3")
        ev = w.rest()  # a clean end: the terminating chunk arrived
        self.assertGreaterEqual(time.monotonic() - t0, 2.9)
        self.assertEqual([e["type"] for e in ev], ["BOOKMARK"])  # at min(1s, deadline-2s)
        bm = ev[0]["object"]
        self.assertEqual((bm["kind"], bm["apiVersion"], bm["metadata"]["creationTimestamp"]),
                         ("Ingress", "networking.k8s.io/v1", None))
        w = S.watch(ING + f"/ingresses?watch=1&resourceVersion={S.rv()}&timeoutSeconds=1")
        self.assertEqual(w.rest(), [])

    def test_compacted_and_future(self):
        rv = S.rv()
        S.put_objects(ing("c", "wc"))
        compacted = S.ctl("POST", "/compact")["compacted"]
        w = S.watch(ING + f"/ingresses?watch=1&resourceVersion={rv}")
        self.assertEqual(w.status, 200)
        ev = w.rest()
        self.assertEqual(len(ev), 1)
        self.assertEqual((ev[0]["type"], ev[0]["object"]["code"], ev[0]["object"]["reason"],
                          ev[0]["object"]["message"]),
                         ("ERROR", 410, "Expired", f"too old resource version: {rv} ({compacted})"))
        w = S.watch(ING + f"/ingresses?watch=1&resourceVersion={compacted}&timeoutSeconds=1")
        self.assertEqual(w.rest(), [])
        t0 = time.monotonic()
        w = S.watch(ING + f"/ingresses?watch=1&resourceVersion={S.rv() + 100}")
        ev = w.rest()
        self.assertGreaterEqual(time.monotonic() - t0, 2.5)
        self.assertEqual((ev[0]["type"], ev[0]["object"]["code"]), ("ERROR", 504))

    def test_drop_watches(self):
        w = S.watch(ING + f"/ingresses?watch=1&resourceVersion={S.rv()}")
        for _ in range(50):
            if S.ctl("GET", "/watches")["watches"]:
                break
            time.sleep(0.02)
        self.assertEqual(S.ctl("POST", "/drop-watches")["dropped"], 1)
        with self.assertRaises((http.client.IncompleteRead, ssl.SSLError, ConnectionError, OSError)):
            w.next()  # no terminating chunk
        time.sleep(0.2)
        self.assertEqual(S.ctl("GET", "/watches")["watches"], [])

    def test_stall(self):
        rv = S.rv()
        w = S.watch(ING + f"/namespaces/st/ingresses?watch=1&resourceVersion={rv}&allowWatchBookmarks=true",
                    read_timeout=1.5)
        S.ctl("POST", "/stall-watches?seconds=2.5")
        t0 = time.monotonic()
        S.put_objects(ing("s", "st"))
        # A stream opened after the stall began is served at once (a client that reconnects recovers).
        w2 = S.watch(ING + f"/namespaces/st/ingresses?watch=1&resourceVersion={rv}", read_timeout=1.5)
        e2 = w2.next()
        self.assertLess(time.monotonic() - t0, 1.5)
        self.assertEqual((e2["type"], e2["object"]["metadata"]["name"]), ("ADDED", "s"))
        w2.close()
        self.assertTrue(w.idle_for(1.0), "no event and no bookmark while stalled")
        e = w.next()
        self.assertGreaterEqual(time.monotonic() - t0, 2.3)
        self.assertEqual((e["type"], e["object"]["metadata"]["name"]), ("ADDED", "s"))
        w.close()

    def test_client_disconnect_is_noticed(self):
        w = S.watch(ING + f"/namespaces/gone/ingresses?watch=1&resourceVersion={S.rv()}")
        time.sleep(0.2)
        self.assertTrue(any(x["namespace"] == "gone" for x in S.ctl("GET", "/watches")["watches"]))
        w.close()
        time.sleep(1.2)
        self.assertFalse(any(x["namespace"] == "gone" for x in S.ctl("GET", "/watches")["watches"]))

    def test_table_watch(self):
        w = S.watch(ING + f"/namespaces/tw/ingresses?watch=1&resourceVersion={S.rv()}",
                    headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"})
        S.put_objects(ing("t", "tw"))
        e = w.next()
        self.assertEqual((e["type"], e["object"]["kind"], e["object"]["rows"][0]["cells"][0]),
                         ("ADDED", "Table", "t"))
        w.close()


class AuthAndFaults(unittest.TestCase):
    def tearDown(self):
        S.ctl("POST", "/allow", {})
        S.ctl("POST", "/fail-next/clear")
        S.ctl("POST", "/delay?ms=0")
        S.ctl("POST", "/tokens", {"tokens": [TOKEN]})

    def test_authentication(self):
        st, d, _ = S.get("/api/v1/namespaces", token=None)
        self.assertEqual((st, d), (401, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                         "status": "Failure", "message": "Unauthorized",
                                         "reason": "Unauthorized", "code": 401}))
        self.assertEqual(S.get("/version", token="wrong")[0], 401)
        st, d, _ = S.get("/api/v1/namespaces", token=None, cert=True)
        self.assertEqual(st, 200)
        S.ctl("POST", "/tokens", {"tokens": ["n1", "n2"]})
        self.assertEqual(S.get("/api/v1/namespaces")[0], 401)
        self.assertEqual(S.get("/api/v1/namespaces", token="n2")[0], 200)
        with open(os.path.join(S.dir, "serviceaccount", "token")) as f:
            self.assertEqual(f.read(), "n1")
        log = S.ctl("GET", "/requests")["requests"]
        self.assertEqual((log[-1]["user"], log[-1]["auth"], log[-1]["token"], log[-1]["status"]),
                         ("system:serviceaccount:portico-system:portico", "token", "n2", 200))

    def test_forbidden(self):
        S.ctl("POST", "/forbid", {"resource": "secrets", "verbs": ["get"]})
        st, d, _ = S.get("/api/v1/namespaces/default/secrets/x")
        self.assertEqual((st, d["reason"], d["message"], d["details"]),
                         (403, "Forbidden", 'secrets "x" is forbidden: User "system:serviceaccount:'
                          'portico-system:portico" cannot get resource "secrets" in API group "" in '
                          'the namespace "default"', {"name": "x", "kind": "secrets"}))
        self.assertEqual(S.get("/api/v1/namespaces/default/secrets")[0], 200)
        S.ctl("POST", "/forbid", {"resource": "ingresses/status", "verbs": ["update", "patch"]})
        st, d, _ = S.req("PATCH", ING + "/namespaces/default/ingresses/u/status", body={},
                         ctype="application/merge-patch+json")
        self.assertEqual(d["message"], 'ingresses.networking.k8s.io "u" is forbidden: User "system:'
                                       'serviceaccount:portico-system:portico" cannot patch resource '
                                       '"ingresses/status" in API group "networking.k8s.io" in the '
                                       'namespace "default"')
        S.ctl("POST", "/forbid", {"resource": "leases", "verbs": ["watch"]})
        st, d, _ = S.get("/apis/coordination.k8s.io/v1/leases?watch=1")
        self.assertEqual(d["message"], 'leases.coordination.k8s.io is forbidden: User "system:service'
                                       'account:portico-system:portico" cannot watch resource '
                                       '"leases" in API group "coordination.k8s.io" at the cluster scope')

    def test_fail_next_and_delay(self):
        S.ctl("POST", "/fail-next", {"status": 500, "count": 2, "path_contains": "endpointslices"})
        self.assertEqual(S.get(ING + "/ingresses")[0], 200)
        st, d, _ = S.get(SLICES + "/endpointslices")
        self.assertEqual((st, d["reason"], d["message"]),
                         (500, "InternalError", "Internal error occurred: injected failure"))
        self.assertEqual(S.get(SLICES + "/endpointslices")[0], 500)
        self.assertEqual(S.get(SLICES + "/endpointslices")[0], 200)
        S.ctl("POST", "/fail-next", {"status": 429, "path_contains": "/api/v1/services"})
        st, d, r = S.get("/api/v1/services")
        self.assertEqual((st, r.getheader("Retry-After"), d["details"]["retryAfterSeconds"]), (429, "1", 1))
        S.ctl("POST", "/fail-next", {"status": 0, "path_contains": "configmaps"})
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError, ssl.SSLError, OSError)):
            S.get("/api/v1/configmaps")
        S.ctl("POST", "/fail-next", {"status": 410, "path_contains": "ingresses", "watch": True,
                                     "as_watch_error": True, "message": "too old resource version: 1 (2)"})
        w = S.watch(ING + "/ingresses?watch=1&resourceVersion=1")
        self.assertEqual([(e["type"], e["object"]["code"]) for e in w.rest()], [("ERROR", 410)])
        S.ctl("POST", "/delay?ms=400")
        t0 = time.monotonic()
        S.get("/api/v1/namespaces")
        self.assertGreaterEqual(time.monotonic() - t0, 0.39)


class Scale(unittest.TestCase):
    def test_50k_endpoints_and_1000_updates_with_watchers(self):
        slices = [{"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                   "metadata": {"name": f"big-{i:02d}", "namespace": "scale",
                                "labels": {"kubernetes.io/service-name": "big"}},
                   "addressType": "IPv4", "ports": [{"name": "http", "port": 8080}],
                   "endpoints": [{"addresses": [f"10.{i}.{j // 250}.{j % 250 + 1}"],
                                  "conditions": {"ready": True}} for j in range(1000)]}
                  for i in range(50)]
        t0 = time.monotonic()
        S.put_objects(*slices)
        c = S.conn()
        c.request("GET", SLICES + "/namespaces/scale/endpointslices",
                  headers={"Authorization": "Bearer " + TOKEN, "Accept-Encoding": "gzip"})
        r = c.getresponse()
        body = r.read()
        self.assertEqual(r.getheader("Content-Encoding"), "gzip")
        import gzip
        d = json.loads(gzip.decompress(body))
        self.assertEqual(sum(len(s["endpoints"]) for s in d["items"]), 50000)
        st, d, _ = S.get(SLICES + "/namespaces/scale/endpointslices?limit=20")
        self.assertEqual((len(d["items"]), d["metadata"]["remainingItemCount"]), (20, 30))
        rv = S.rv()
        watchers = [S.watch(ING + f"/namespaces/scale/ingresses?watch=1&resourceVersion={rv}",
                            read_timeout=60) for _ in range(3)]
        got = [[] for _ in watchers]

        def drain(i):
            while len(got[i]) < 1000:
                got[i].append(watchers[i].next())
        threads = [threading.Thread(target=drain, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        S.put_objects(*[ing("hot", "scale", host=f"h{n}.example") for n in range(1000)])
        for t in threads:
            t.join(60)
        for g in got:
            self.assertEqual(len(g), 1000)
            self.assertEqual([e["type"] for e in g[:2]], ["ADDED", "MODIFIED"])
            self.assertEqual([e["object"]["spec"]["rules"][0]["host"] for e in g],
                             [f"h{n}.example" for n in range(1000)])
            rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in g]
            self.assertEqual(rvs, sorted(set(rvs)))
        for w in watchers:
            w.close()
        self.assertLess(time.monotonic() - t0, 60)


class AutomaticCompaction(unittest.TestCase):
    def test_history_limit(self):
        s = StandIn("--history-limit", "100", "--no-seed")
        try:
            s.put_objects(ing("first"))
            first = s.rv()
            for n in range(3):
                s.put_objects(*[ing(f"i{k}", host=f"{n}.example") for k in range(100)])
            state = s.ctl("GET", "/state")
            self.assertGreater(int(state["compacted"]), first)
            self.assertLessEqual(state["events"], 110)
            w = s.watch(ING + f"/ingresses?watch=1&resourceVersion={first}")
            self.assertEqual(w.rest()[0]["object"]["code"], 410)
        finally:
            self.assertEqual(s.stop(), 0)

    def test_history_size(self):
        s = StandIn("--history-max-mib", "1", "--no-seed")
        try:
            big = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                   "metadata": {"name": "big", "namespace": "default"}, "addressType": "IPv4",
                   "endpoints": [{"addresses": [f"10.{j // 62500}.{j // 250 % 250}.{j % 250 + 1}"]} for j in range(3000)]}
            s.put_objects(big)
            first = s.rv()
            w = s.watch(SLICES + f"/endpointslices?watch=1&resourceVersion={first}", read_timeout=30)
            for n in range(30):
                big["metadata"]["labels"] = {"n": str(n)}
                s.put_objects(big)
            got = [w.next()["object"]["metadata"]["labels"]["n"] for _ in range(30)]
            self.assertEqual(got, [str(n) for n in range(30)], "a caught-up watcher misses nothing")
            state = s.ctl("GET", "/state")
            self.assertGreater(int(state["compacted"]), first)
            self.assertLess(state["events"], 30)
            self.assertEqual(s.watch(SLICES + f"/endpointslices?watch=1&resourceVersion={first}")
                             .rest()[0]["object"]["code"], 410)
            w.close()
        finally:
            self.assertEqual(s.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
