"""`python -m core ask QUESTION`: an answer from the collection with its citations.

The answer streams to stdout as it is written; then each cited chunk is listed
as [n] source (category) with the start of its text.
"""
from __future__ import annotations

import argparse
import sys
import textwrap

from ..llm import DEFAULT_TIMEOUT, PROVIDERS, make_llm
from ..rag import DEFAULT_K, stream_answer
from ..workspace import open_workspace
from .common import add_collection_options, add_k_option, store_url


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ask", help="answer a question from a collection, with citations",
                       description="Retrieve the chunks closest to QUESTION (hybrid search) and answer from them "
                                   "with [n] citations: quoted sentences offline (extractive, the default), or "
                                   "written by OpenAI, Anthropic or an OpenAI-compatible server.")
    p.add_argument("question")
    add_collection_options(p)
    p.add_argument("--provider", choices=list(PROVIDERS), default="extractive",
                   help="who writes the answer (default extractive: no model, works offline; openai needs "
                        "OPENAI_API_KEY, anthropic ANTHROPIC_API_KEY, openai-compatible --base-url)")
    p.add_argument("--model", default=None, help="model name (default: " + ", ".join(
        f"{s.name} {s.default_model}" for s in PROVIDERS.values() if s.default_model) + ")")
    p.add_argument("--base-url", default=None,
                   help="API base URL, e.g. http://localhost:11434/v1 for Ollama (openai-compatible)")
    add_k_option(p, DEFAULT_K, "how many chunks to answer from")
    p.add_argument("--mode", choices=["vector", "keyword", "hybrid"], default="hybrid", help="retrieval mode")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                   help=f"seconds to wait for the model (default {DEFAULT_TIMEOUT:g})")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    llm = make_llm(args.provider, args.model, args.base_url, timeout=args.timeout)
    workspace = open_workspace(store_url(args), args.collection, args.embedder)
    stream = stream_answer(args.question, workspace, llm, k=args.k, mode=args.mode)
    for delta in stream:
        sys.stdout.write(delta)
        sys.stdout.flush()
    result = stream.answer
    print()
    if result.notice:
        print(f"note: {result.notice}", file=sys.stderr)
    print(f"\n({'extractive: quoted sentences, no language model' if result.extractive else result.provider})")
    for c in result.citations:
        print(f"[{c.n}] {c.source} ({c.category or 'no category'})")
        print(textwrap.indent(textwrap.shorten(c.text, 300), "    "))
    return 0
