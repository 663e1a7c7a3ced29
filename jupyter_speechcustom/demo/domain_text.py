"""Deterministic text generator for the demo domain: cloud operations / SRE support calls.

The base demo model is trained on general English, so this domain is full of words it has
never heard (kubectl, terraform, nginx, daemonset, p ninety nine ...).  This module builds,
from a seed, a language-model corpus plus disjoint train/dev/test sentence lists (to be spoken
by espeak-ng) and a list of custom words with sounds-like and display-as hints.

Every sentence is in *spoken form*: lowercase, letters a-z, apostrophes and single spaces,
numbers spelled out, no punctuation.  Only the standard library is used.

Run ``python3 domain_text.py OUT_DIR`` to write the files.
"""

from __future__ import annotations

import csv
import json
import pathlib
import random
import re
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = [
    "DOMAIN_TERMS",
    "JARGON_TERMS",
    "CustomWord",
    "DomainText",
    "domain_word_ratio",
    "generate_domain_text",
    "spell_number",
    "write_domain_files",
]

# Target sizes of the splits.
N_CORPUS = 1500
N_TRAIN = 220
N_DEV = 40
N_TEST = 80
MIN_WORDS = 5
MAX_WORDS = 16

SPOKEN_RE = re.compile(r"^[a-z']+( [a-z']+)*$")


@dataclass(frozen=True)
class CustomWord:
    """A domain word with optional pronunciation hints and a display form."""

    word: str
    sounds_like: tuple[str, ...] = ()
    display_as: str | None = None


@dataclass(frozen=True)
class DomainText:
    """Generated domain text: LM corpus, audio splits and custom vocabulary."""

    corpus: list[str] = field(default_factory=list)
    train: list[str] = field(default_factory=list)
    dev: list[str] = field(default_factory=list)
    test: list[str] = field(default_factory=list)
    custom_words: list[CustomWord] = field(default_factory=list)


# ---------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def spell_number(n: int) -> str:
    """Spell a non-negative integer below one million in spoken English words."""
    if n < 0 or n >= 1_000_000:
        raise ValueError(f"number out of range: {n}")
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return _ONES[hundreds] + " hundred" + ("" if rest == 0 else " " + spell_number(rest))
    thousands, rest = divmod(n, 1000)
    return spell_number(thousands) + " thousand" + ("" if rest == 0 else " " + spell_number(rest))


# ---------------------------------------------------------------------------
# Vocabulary: jargon (unknown to a general-English model) and domain phrasing
# ---------------------------------------------------------------------------

#: Single-token technical terms a general-English model has essentially never heard.
JARGON_TERMS: tuple[str, ...] = tuple(
    ["kubectl", "kubernetes", "kubelet", "terraform", "helm", "nginx", "postgres", "grafana", "prometheus", "etcd", "ansible", "istio", "kafka", "redis", "jenkins", "autoscaler", "namespace", "ingress", "pod", "pods", "daemonset", "configmap", "statefulset", "cronjob", "rollback", "failover", "latency", "runbook", "coredns", "mysql", "pagerduty", "argocd", "elasticsearch", "kibana", "fluentd", "loki", "docker", "containerd", "memcached", "rabbitmq", "zookeeper", "envoy", "consul", "datadog", "alertmanager", "sidecar", "postmortem", "kubeconfig", "dockerfile", "playbook", "replicas", "replica", "rollout"]
)

#: Ordinary words that are part of the domain's phrasing (counted with the jargon for ratios).
_DOMAIN_PHRASING: tuple[str, ...] = tuple(
    ["deployment", "deployments", "cluster", "clusters", "node", "nodes", "staging", "production", "canary", "sandbox", "region", "restart", "restarted", "redeploy", "drain", "drained", "cordon", "uncordon", "scale", "scaled", "upgrade", "upgraded", "errors", "error", "timeout", "timeouts", "timed", "crash", "loop", "back", "off", "memory", "killed", "image", "pull", "pending", "evicted", "terminating", "alert", "alerts", "alerting", "paged", "page", "incident", "outage", "service", "services", "release", "revision", "certificate", "manifest", "container", "containers", "volume", "volumes", "disk", "database", "databases", "cache", "queue", "broker", "brokers", "topic", "partitions", "lag", "replication", "primary", "secondary", "quorum", "leader", "members", "dashboard", "dashboards", "p", "s", "l", "o", "t", "c", "u", "d", "n", "v", "r", "throttling", "milliseconds", "seconds", "percent", "error", "budget", "burn", "burning", "on", "call", "engineer", "gateway", "secret", "secrets", "cluster's", "pool", "worker", "limit", "limits", "request", "requests", "config", "health", "check", "checks", "probe", "probes", "readiness", "liveness", "endpoint", "endpoints", "upstream", "downstream", "load", "balancer", "traffic", "apply", "plan", "state", "lock", "locked", "resources", "destroy", "build", "pipeline", "stage", "lint", "sync", "synced", "credentials", "rotated", "rotate", "instances", "unhealthy", "consumer", "messages", "silence", "hosts", "bastion", "logs", "log", "metrics", "connection", "connections", "refused", "resolve", "resolving", "version", "rollback", "rolled", "roll", "mesh", "injection", "network", "policy", "disruption", "budget", "persistent", "claim", "claims", "account", "autoscaling", "horizontal", "vertical", "hit", "ratio", "usage", "replicated", "shard", "shards", "index", "indices", "heap", "garbage", "collection", "gigabytes", "megabytes", "gigs", "mebibytes", "quota", "eviction", "latency", "spiked", "spike", "saturation", "throughput", "availability", "uptime", "sev", "severity", "escalate", "escalated", "ticket", "postmortem", "retro", "deploy", "deployed", "deploys", "merged", "pipeline", "hotfix", "patch", "patched", "chart", "charts", "values", "helmfile", "terraform's", "migration", "migrations", "schema", "vacuum", "handshake", "expired", "expiry", "oh", "ninety", "nine", "ninety", "five", "fifty"]
)

DOMAIN_TERMS: frozenset[str] = frozenset(JARGON_TERMS) | frozenset(_DOMAIN_PHRASING)
_JARGON_SET: frozenset[str] = frozenset(JARGON_TERMS)


def domain_word_ratio(sentence: str) -> float:
    """Fraction of the words in ``sentence`` that are jargon or domain phrasing."""
    words = sentence.split()
    if not words:
        return 0.0
    return sum(w in DOMAIN_TERMS for w in words) / len(words)


def _has_jargon(sentence: str) -> bool:
    return any(w in _JARGON_SET for w in sentence.split())


# ---------------------------------------------------------------------------
# Slot fillers
# ---------------------------------------------------------------------------

Filler = list[str] | Callable[[random.Random], str]


def _num(lo: int, hi: int) -> Callable[[random.Random], str]:
    return lambda rng: spell_number(rng.randint(lo, hi))


def _choice_of(*values: int) -> Callable[[random.Random], str]:
    return lambda rng: spell_number(rng.choice(values))


def _replicas(rng: random.Random) -> str:
    n = rng.choice([1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 24, 30])
    return "one replica" if n == 1 else f"{spell_number(n)} replicas"


def _count_noun(noun: str, plural: str, lo: int, hi: int) -> Callable[[random.Random], str]:
    def fill(rng: random.Random) -> str:
        n = rng.randint(lo, hi)
        return f"one {noun}" if n == 1 else f"{spell_number(n)} {plural}"

    return fill


def _duration(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.45:
        n = rng.choice([1, 2, 3, 4, 5, 8, 10, 15, 30])
        return "one second" if n == 1 else f"{spell_number(n)} seconds"
    return f"{spell_number(rng.choice([100, 150, 200, 250, 300, 400, 500, 600, 750, 800, 900]))} milliseconds"


def _memory(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return f"{spell_number(rng.choice([128, 256, 512, 768]))} megabytes"
    n = rng.choice([1, 2, 3, 4, 6, 8, 16])
    return "one gigabyte" if n == 1 else f"{spell_number(n)} gigabytes"


def _big_count(rng: random.Random) -> str:
    return spell_number(rng.choice([20, 30, 40, 50, 60, 75, 80, 100, 120, 150, 200, 250, 300, 500]))


def _thousands(rng: random.Random) -> str:
    return spell_number(rng.choice([2, 3, 5, 10, 12, 20, 40, 50, 80, 100, 200])) + " thousand"


def _build_id(rng: random.Random) -> str:
    return spell_number(rng.randint(100, 999))


def _version(rng: random.Random) -> str:
    return "one point " + spell_number(rng.randint(24, 31))


def _helm_version(rng: random.Random) -> str:
    return f"{spell_number(rng.randint(1, 4))} point {spell_number(rng.randint(0, 12))}"


SLOTS: dict[str, Filler] = {
    "svc": [
        "payments", "checkout", "billing", "auth", "search", "inventory", "notifications",
        "orders", "shipping", "recommendations", "user profile", "a p i gateway", "reporting",
        "ledger", "fraud detection", "pricing", "catalog", "login", "email", "invoicing",
    ],
    "ns": [
        "payments", "checkout", "billing", "monitoring", "logging", "default", "kube system",
        "ingress nginx", "data", "platform", "orders", "search", "auth", "cert manager",
    ],
    "env": ["staging", "production", "dev", "sandbox", "production", "staging"],
    "region": [
        "us east one", "us east two", "us west one", "us west two", "eu west one",
        "eu central one", "ap southeast one", "ap northeast one", "ap south one",
    ],
    "kind": [
        "deployment", "daemonset", "statefulset", "configmap", "secret", "cronjob", "ingress",
        "service account", "persistent volume claim", "network policy", "pod disruption budget",
        "horizontal pod autoscaler", "replica set",
    ],
    "db": ["postgres", "mysql", "redis", "postgres", "mysql"],
    "store": ["postgres", "redis", "kafka", "mysql", "elasticsearch", "memcached", "rabbitmq"],
    "monitor": ["grafana", "prometheus", "datadog"],
    "proxy": ["nginx", "envoy", "istio"],
    "state": [
        "crash loop back off", "image pull back off", "pending", "container creating",
        "crash loop back off", "init error",
    ],
    "reason": [
        "a failed liveness probe", "an out of memory kill", "an image pull error", "a failed volume mount",
        "insufficient c p u", "insufficient memory", "a missing configmap", "a missing secret",
    ],
    "badstate": ["evicted", "out of memory killed", "restarted", "rescheduled", "throttled"],
    "sev": ["one", "two", "three"],
    "appns": ["platform", "default", "apps", "backend"],
    "http": [
        "five hundred errors", "five oh two errors", "five oh three errors", "five oh four errors",
        "four oh four errors", "four twenty nine errors", "four oh three errors",
    ],
    "lat": [
        "p ninety nine latency", "p ninety five latency", "p fifty latency", "median latency",
        "tail latency", "p ninety nine",
    ],
    "pct": lambda rng: spell_number(rng.choice([5, 10, 15, 20, 25, 40, 50, 60, 70, 75, 80, 85, 90, 95, 98, 99, 100])),
    "highpct": _choice_of(80, 85, 90, 92, 95, 97, 98, 99, 100),
    "lowpct": _choice_of(10, 20, 25, 30, 40, 50, 60),
    "errpct": _choice_of(1, 2, 3, 5, 10),
    "n": _num(2, 9),
    "n1": _num(1, 12),
    "rev": _num(1, 40),
    "replicas": _replicas,
    "nodes": _count_noun("node", "nodes", 1, 9),
    "pods": _count_noun("pod", "pods", 1, 12),
    "days": _count_noun("day", "days", 1, 14),
    "minutes": _count_noun("minute", "minutes", 1, 45),
    "dur": _duration,
    "mem": _memory,
    "big": _big_count,
    "thousands": _thousands,
    "build": _build_id,
    "version": _version,
    "helmver": _helm_version,
    "when": [
        "since this morning", "after the last deploy", "for the past hour", "since midnight",
        "since the release went out", "after the node upgrade", "since about two a m",
        "for the last twenty minutes", "after the config change", "since the failover",
        "during the traffic spike", "since yesterday",
    ],
    "past": [
        "this morning", "last night", "around midnight", "an hour ago", "yesterday afternoon",
        "during the deploy", "right after the release", "at about three a m", "twenty minutes ago",
        "on friday", "earlier today",
    ],
    "team": [
        "the on call engineer", "the database team", "the platform team", "the network team",
        "the s r e team", "the secondary on call", "the incident commander", "the security team",
    ],
    "tfverb": ["add", "change", "destroy"],
    "stage": [
        "docker build", "unit test", "helm lint", "terraform apply", "integration test",
        "image push", "deploy to staging", "security scan",
    ],
    "cfgkey": [
        "database url", "redis host", "kafka broker list", "feature flag", "log level",
        "connection pool size", "timeout value", "postgres password",
    ],
    "hosts": ["web", "database", "bastion", "kafka", "worker", "monitoring"],
    "topic": ["orders", "payments", "events", "audit log", "clickstream", "notifications", "inventory updates"],
    "alert": [
        "high error rate", "disk pressure", "node not ready", "certificate expiry",
        "kafka consumer lag", "pod restarts", "high memory usage", "etcd leader changes",
        "postgres replication lag", "slow queries", "target down",
    ],
    "runtopic": [
        "postgres failover", "etcd restore", "node drain", "certificate rotation",
        "kafka rebalancing", "redis eviction", "helm rollback", "d n s outages", "region failover",
    ],
    "clock": ["five p m", "midnight", "noon", "three a m", "nine a m", "six p m", "the end of the day"],
    "tool": ["kubectl", "helm"],
    "dash": ["grafana", "datadog"],
    "cicd": ["jenkins", "argocd"],
    "logtool": ["kibana", "loki", "datadog", "grafana"],
    "action": [
        "restart", "redeploy", "roll back", "scale down", "scale up", "pause the rollout of",
    ],
    "nodeverb": ["drain", "cordon", "uncordon", "reboot", "replace"],
}

# Optional spoken openers and closers that make call snippets and notes sound natural.
_STATEMENT_OPENERS = [
    "hey", "so", "okay so", "just a heads up", "it looks like", "i think", "right now", "hi",
    "um", "so basically", "as of now", "heads up", "looks like", "from what i can see",
    "for the record", "just so you know",
]
_STATEMENT_CLOSERS = ["again", "as far as i can tell", "if that helps", "for some reason", "again today"]
_REQUEST_OPENERS = ["hey", "hi", "quick question", "okay so", "so", "hey team", "um"]
_REQUEST_CLOSERS = ["thanks", "please", "when you get a chance", "if you can", "as soon as possible"]

# ---------------------------------------------------------------------------
# Templates, kept in data/domain_templates.json.  Each entry is a list of phrasing variants of one
# kind of call snippet / note. `{slot}` is replaced by a random filler from SLOTS.  A leading "*" marks a statement and a
# leading "!" a request or question; these may get a matching spoken opener or closer.
# ---------------------------------------------------------------------------

#: The phrasing variants, one list per kind of call snippet or note: ``data/domain_templates.json``.
TEMPLATES: list[list[str]] = json.loads(
    (pathlib.Path(__file__).with_name("data") / "domain_templates.json").read_text(encoding="utf-8"))


def _fill(template: str, rng: random.Random) -> str:
    """Replace every ``{slot}`` in ``template`` with a random filler.

    ``{appns}`` is linked to ``{svc}``: it usually names the service's own namespace when
    one exists, so "helm rollback payments ... in the payments namespace" stays plausible.
    """
    chosen: dict[str, str] = {}

    def sub(match: re.Match[str]) -> str:
        slot = match.group(1)
        filler = SLOTS[slot]
        value = filler(rng) if callable(filler) else rng.choice(filler)
        namespaces = SLOTS["ns"]
        if slot == "appns" and isinstance(namespaces, list) and chosen.get("svc") in namespaces and rng.random() < 0.75:
            value = chosen["svc"]
        chosen[slot] = value
        return value

    return re.sub(r"\{(\w+)\}", sub, template)


def _render(variant: str, rng: random.Random) -> str:
    """Render one template variant, possibly with a spoken opener or closer."""
    marker, body = variant[:1], variant[1:]
    if marker not in "*!":
        marker, body = "", variant
    text = _fill(body, rng)
    if marker:
        openers, closers = (
            (_STATEMENT_OPENERS, _STATEMENT_CLOSERS) if marker == "*" else (_REQUEST_OPENERS, _REQUEST_CLOSERS)
        )
        has_time = "{when}" in body or "{past}" in body
        r = rng.random()
        if r < 0.16:
            text = f"{rng.choice(openers)} {text}"
        elif r < 0.25 and not has_time:
            text = f"{text} {rng.choice(closers)}"
    return " ".join(text.split())


def _valid(sentence: str) -> bool:
    n = len(sentence.split())
    return MIN_WORDS <= n <= MAX_WORDS and bool(SPOKEN_RE.match(sentence))


def _generate_pool(rng: random.Random, target: int) -> dict[str, tuple[int, int]]:
    """Generate ``target`` distinct valid sentences, cycling through templates evenly.

    Returns an insertion-ordered mapping sentence -> (template index, variant index).
    """
    seen: dict[str, tuple[int, int]] = {}
    attempts = 0
    max_attempts = target * 50
    while len(seen) < target and attempts < max_attempts:
        for t_idx, group in enumerate(TEMPLATES):
            attempts += 1
            v_idx = rng.randrange(len(group))
            sentence = _render(group[v_idx], rng)
            if _valid(sentence) and sentence not in seen:
                seen[sentence] = (t_idx, v_idx)
            if len(seen) >= target:
                break
    if len(seen) < target:
        raise RuntimeError(f"could only generate {len(seen)} of {target} sentences")
    return seen


# ---------------------------------------------------------------------------
# Custom words
# ---------------------------------------------------------------------------

CUSTOM_WORDS: tuple[CustomWord, ...] = (
    CustomWord("kubectl", ("cube control", "cube cuttle", "cube c t l"), None),
    CustomWord("kubernetes", ("cooper net ease", "cube and eighties"), "Kubernetes"),
    CustomWord("kubelet", ("cube let", "cube lit"), None),
    CustomWord("nginx", ("engine x", "engine ex"), "NGINX"),
    CustomWord("postgres", ("post grass", "post gross"), "PostgreSQL"),
    CustomWord("mysql", ("my sequel", "my s q l"), "MySQL"),
    CustomWord("etcd", ("e t c d",), None),
    CustomWord("terraform", ("terra form", "terror form"), "Terraform"),
    CustomWord("helm", (), "Helm"),
    CustomWord("grafana", ("graph on a", "graph fauna"), "Grafana"),
    CustomWord("prometheus", ("pro me the us",), "Prometheus"),
    CustomWord("alertmanager", ("alert manager",), "Alertmanager"),
    CustomWord("ansible", ("and sable", "ants able"), "Ansible"),
    CustomWord("istio", ("is tea oh", "east yo"), "Istio"),
    CustomWord("kafka", ("calf car", "cough car"), "Kafka"),
    CustomWord("redis", ("red is", "read is"), "Redis"),
    CustomWord("jenkins", (), "Jenkins"),
    CustomWord("argocd", ("are go c d", "argo c d"), "Argo CD"),
    CustomWord("coredns", ("core d n s", "core dns"), "CoreDNS"),
    CustomWord("pagerduty", ("pager duty",), "PagerDuty"),
    CustomWord("rabbitmq", ("rabbit m q",), "RabbitMQ"),
    CustomWord("elasticsearch", ("elastic search",), "Elasticsearch"),
    CustomWord("fluentd", ("fluent d", "fluent dee"), "Fluentd"),
    CustomWord("containerd", ("container d", "container dee"), None),
    CustomWord("daemonset", ("demon set", "damon set"), "DaemonSet"),
    CustomWord("statefulset", ("stateful set",), "StatefulSet"),
    CustomWord("configmap", ("config map", "conflict map"), "ConfigMap"),
    CustomWord("cronjob", ("cron job", "crown job"), "CronJob"),
    CustomWord("autoscaler", ("auto scaler",), None),
    CustomWord("namespace", ("name space",), None),
    CustomWord("ingress", ("in grass",), None),
    CustomWord("failover", ("fail over",), None),
    CustomWord("runbook", ("run book",), None),
    CustomWord("kubeconfig", ("cube config",), None),
)


# ---------------------------------------------------------------------------
# Splitting
# ---------------------------------------------------------------------------


def _pick_held_out(
    candidates: list[str],
    n: int,
    df: Counter[str],
    accept: Callable[[str], bool],
    taken: set[str],
    variant_of: dict[str, tuple[int, int]],
    max_per_variant: int,
) -> list[str]:
    """Greedily pick ``n`` sentences satisfying ``accept`` whose words stay covered by the rest.

    ``df`` holds, per word, how many not-yet-held-out sentences contain it; a sentence is only
    held out if every one of its words keeps at least one remaining occurrence, so the corpus
    (made of the remaining sentences) covers the whole held-out vocabulary.  At most
    ``max_per_variant`` sentences are taken from one template variant, for variety.
    """
    picked: list[str] = []
    per_variant: Counter[tuple[int, int]] = Counter()
    for sentence in candidates:
        if len(picked) >= n:
            break
        if sentence in taken or not accept(sentence):
            continue
        if per_variant[variant_of[sentence]] >= max_per_variant:
            continue
        words = sorted(set(sentence.split()))
        if any(df[w] < 2 for w in words):
            continue
        for w in words:
            df[w] -= 1
        per_variant[variant_of[sentence]] += 1
        picked.append(sentence)
        taken.add(sentence)
    if len(picked) < n:
        raise RuntimeError(f"could only pick {len(picked)} of {n} held-out sentences")
    return picked


def _eval_ok(sentence: str) -> bool:
    """Dev/test criterion: at least one jargon term and a domain-heavy but natural mix."""
    return _has_jargon(sentence) and 0.35 <= domain_word_ratio(sentence) <= 0.7


def generate_domain_text(seed: int = 0) -> DomainText:
    """Generate the demo domain's LM corpus, train/dev/test sentences and custom words.

    Deterministic for a given ``seed``.  Splits are mutually disjoint as exact strings and every
    word of the train/dev/test sentences also occurs in the corpus.
    """
    rng = random.Random(seed)
    total = N_CORPUS + N_TRAIN + N_DEV + N_TEST
    pool = _generate_pool(rng, total)
    order = list(pool)
    rng.shuffle(order)

    df: Counter[str] = Counter()
    for sentence in pool:
        df.update(set(sentence.split()))

    taken: set[str] = set()
    test = _pick_held_out(order, N_TEST, df, _eval_ok, taken, pool, max_per_variant=1)
    dev = _pick_held_out(order, N_DEV, df, _eval_ok, taken, pool, max_per_variant=1)
    train = _pick_held_out(order, N_TRAIN, df, _has_jargon, taken, pool, max_per_variant=3)
    corpus = [s for s in order if s not in taken]

    corpus_words = {w for s in corpus for w in s.split()}
    missing = [cw.word for cw in CUSTOM_WORDS if cw.word not in corpus_words]
    if missing:  # pragma: no cover - guarded by the templates
        raise RuntimeError(f"custom words missing from corpus: {missing}")
    return DomainText(corpus=corpus, train=train, dev=dev, test=test, custom_words=list(CUSTOM_WORDS))


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------


def _write_lines(path: pathlib.Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def write_domain_files(out_dir: pathlib.Path, seed: int = 0) -> dict[str, pathlib.Path]:
    """Write corpus/train/dev/test text files and ``custom_words.csv`` into ``out_dir``.

    Returns a mapping ``{"corpus", "train", "dev", "test", "custom_words"}`` -> path.
    """
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = generate_domain_text(seed)
    paths: dict[str, pathlib.Path] = {}
    for name in ("corpus", "train", "dev", "test"):
        path = out_dir / f"{name}.txt"
        _write_lines(path, getattr(data, name))
        paths[name] = path
    csv_path = out_dir / "custom_words.csv"
    with csv_path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["word", "sounds_like", "display_as"])
        for cw in data.custom_words:
            writer.writerow([cw.word, ";".join(cw.sounds_like), cw.display_as or ""])
    paths["custom_words"] = csv_path
    return paths


def _main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        print("usage: domain_text.py OUT_DIR [SEED]", file=sys.stderr)
        return 2
    seed = int(argv[1]) if len(argv) == 2 else 0
    paths = write_domain_files(pathlib.Path(argv[0]), seed=seed)
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
