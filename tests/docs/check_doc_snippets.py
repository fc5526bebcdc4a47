#!/usr/bin/python3
"""Docs that match the tool (CTest 'docs_snippets'; convention in docs/scenario-reference.md, "Snippets in
the docs").

1. Every ```yaml block of README.md and docs/*.md loads through `moesim describe`. A block is a whole
   scenario unless the HTML comment on the line before its fence says otherwise:
     <!-- doc-test: fragment -->      merge the block into a base scenario (BASE below) and load that;
     <!-- doc-test: dir=scenarios --> resolve relative paths from that folder (default: the doc's own);
     <!-- doc-test: sweep -->         a sweep file: checked with `moesim sweep FILE --dry-run` (the base and
                                      every point load);
     <!-- doc-test: skip -->          not a scenario (e.g. a study file or a calibrated GPU profile).
   Options combine: <!-- doc-test: fragment dir=scenarios -->.
2. Every `section.key` written in backticks in README.md and docs/*.md, for the scenario sections
   (cluster, model, serving, workload, latency, output), is a key the loader accepts.
3. No doc links to ../shared (which a clone does not have): cite the public source instead.
4. Every key the loader accepts (the allowed-key lists of src/config/scenario.cpp) is documented in
   docs/scenario-reference.md (in backticks).

usage: check_doc_snippets.py --moesim PATH --root REPO_ROOT
Exit 0 when all pass, 1 with one line per problem otherwise.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile

import yaml  # noqa: F401  (python3-yaml; only used to merge fragments)

SECTIONS = ("cluster", "model", "serving", "workload", "latency", "output")

# A small scenario that loads on its own; fragments are merged into it (mappings key by key).
BASE = {
    "cluster": {"gpu": "A100-SXM-80GB", "nodes": 1, "gpus_per_node": 8, "cost_per_gpu_hour_usd": 4.1},
    "model": {"preset": "llama-2-7b"},
    "serving": {"tensor_parallel_size": 1},
    "workload": {"prompt_tokens": {"distribution": "fixed", "value": 128},
                 "output_tokens": {"distribution": "fixed", "value": 16}, "num_requests": 4},
}

FENCE = re.compile(r"^```(\w*)\s*$")
MARK = re.compile(r"^<!--\s*doc-test:\s*(.*?)\s*-->\s*$")


def doc_files(root: str) -> list[str]:
    docs = os.path.join(root, "docs")
    return [os.path.join(root, "README.md")] + sorted(
        os.path.join(docs, name) for name in os.listdir(docs) if name.endswith(".md"))


def yaml_blocks(path: str):
    """Yields (line of the fence, options dict, text) for every ```yaml block."""
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if match and match.group(1):
            start = i
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            if match.group(1) in ("yaml", "yml"):
                options: dict[str, str] = {}
                k = start - 1
                while k >= 0 and not lines[k].strip():
                    k -= 1
                mark = MARK.match(lines[k]) if k >= 0 else None
                if mark:
                    for word in mark.group(1).split():
                        key, _, value = word.partition("=")
                        options[key] = value or "yes"
                yield start + 1, options, "\n".join(lines[start + 1:j]) + "\n"
            i = j + 1
        elif match:  # an opening fence without a language: skip to its end
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            i = j + 1
        else:
            i += 1


def merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def accepted_keys(root: str) -> set[str]:
    """Dotted key paths from the allowed-key lists in src/config/scenario.cpp (child("x", {...}),
    MapReader(..., {...}) and model_keys())."""
    text = open(os.path.join(root, "src", "config", "scenario.cpp"), encoding="utf-8").read()
    keys: set[str] = set()
    parents = {"cluster": "", "model": "", "serving": "", "workload": "", "latency": "", "output": "",
               "gpu_spec": "cluster.", "expert_routing": "serving.", "prompt_tokens": "workload.",
               "output_tokens": "workload.", "arrivals": "workload.", "engine_overhead": "latency."}
    for match in re.finditer(r'child\(\s*(key|"\w+")\s*,\s*\{([^}]*)\}', text):
        name, body = match.group(1).strip('"'), match.group(2)
        names = ["prompt_tokens", "output_tokens"] if name == "key" else [name]
        for n in names:
            prefix = parents.get(n, "") + n + "."
            keys.update(prefix + k for k in re.findall(r'"(\w+)"', body))
    # The items of workload.mix (a list: `workload.mix.1.weight` is checked as workload.mix.weight).
    mix = re.search(r'path_of\("mix"\).*?MapReader m\(.*?\{([^}]*)\}', text, re.S)
    if mix:
        keys.update("workload.mix." + k for k in re.findall(r'"(\w+)"', mix.group(1)))
    links = re.search(r'MapReader link\(.*?\{([^}]*)\}', text, re.S)
    keys.update("cluster.links." + k for k in re.findall(r'"(\w+)"', links.group(1)))
    model = re.search(r'model_keys\(\)\s*\{\s*return\s*\{([^}]*)\}', text)
    if model:
        keys.update("model." + k for k in re.findall(r'"(\w+)"', model.group(1)))
    return keys


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--moesim", required=True)
    parser.add_argument("--root", required=True)
    args = parser.parse_args()
    root = os.path.abspath(args.root)
    problems: list[str] = []
    loaded = 0

    with tempfile.TemporaryDirectory() as tmp:
        for path in doc_files(root):
            rel = os.path.relpath(path, root)
            for line, options, text in yaml_blocks(path):
                if "skip" in options:
                    continue
                base_dir = os.path.join(root, options["dir"]) if "dir" in options else os.path.dirname(path)
                try:
                    document = yaml.safe_load(text)
                except yaml.YAMLError as error:
                    problems.append(f"{rel}:{line}: not YAML: {error}")
                    continue
                if "fragment" in options:
                    text = yaml.safe_dump(merge(BASE, document or {}), sort_keys=False)
                # The file goes where its relative paths resolve (a scenario's paths are relative to it).
                fd, scenario = tempfile.mkstemp(prefix=".doc-snippet-", suffix=".yaml", dir=base_dir)
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    out.write(text)
                try:
                    command = ([args.moesim, "sweep", scenario, "--dry-run"] if "sweep" in options
                               else [args.moesim, "describe", scenario])
                    run = subprocess.run(command, capture_output=True, text=True, timeout=120)
                finally:
                    os.unlink(scenario)
                loaded += 1
                if run.returncode != 0:
                    message = (run.stderr.strip() or run.stdout.strip()).replace(scenario, "<snippet>")
                    problems.append(f"{rel}:{line}: the yaml block does not load (exit {run.returncode}):\n"
                                    + "\n".join("    " + l for l in message.splitlines()[:20]))

    keys = accepted_keys(root)
    if len(keys) < 60:
        problems.append(f"found only {len(keys)} accepted keys in src/config/scenario.cpp: the extraction broke")
    documented_prefixes = {k.rsplit(".", 1)[0] for k in keys}
    reference = {}
    for path in doc_files(root):
        rel = os.path.relpath(path, root)
        for number, text in enumerate(open(path, encoding="utf-8"), 1):
            if "../shared" in text or re.search(r"(?<![\w/])specs/", text):
                problems.append(f"{rel}:{number}: links to the project's private material (../shared, specs/); "
                                "cite the public source (paper arXiv id, vLLM file and version, dataset URL)")
            for name in re.findall(r"`((?:%s)\.[a-z0-9_.]+)`" % "|".join(SECTIONS), text):
                name = re.sub(r"\.\d+", "", name).rstrip(".")
                if name not in keys and name not in documented_prefixes:
                    problems.append(f"{rel}:{number}: `{name}` is not a key the scenario loader accepts")
        if rel == os.path.join("docs", "scenario-reference.md"):
            reference = open(path, encoding="utf-8").read()
    # Every dotted prefix and suffix of a backticked name counts (`engine_overhead.fixed_us` documents
    # latency.engine_overhead and latency.engine_overhead.fixed_us).
    backticked: set[str] = set()
    for token in re.findall(r"`([a-z0-9_.]+)", reference):
        parts = token.split(".")
        for i in range(len(parts)):
            for j in range(i + 1, len(parts) + 1):
                backticked.add(".".join(parts[i:j]))
    for key in sorted(keys):
        parts = key.split(".")
        if not any(".".join(parts[i:]) in backticked for i in range(len(parts))):
            problems.append(f"docs/scenario-reference.md: accepted key `{key}` is not documented")

    for problem in problems:
        print(problem)
    print(f"doc snippets: {loaded} yaml blocks loaded, {len(keys)} accepted keys checked, "
          f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
