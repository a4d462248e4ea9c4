"""Generator backends, chosen by ``SynthesizeConfig.backend``.

``ngram``: the embedded Kneser-Ney model, watermarked in its sampling loop; ``generate_many`` samples a pool
of documents at once (``BatchSampler``), each exactly as ``generate`` would.
``openai``: any server speaking the OpenAI completions protocol (vLLM, llama.cpp's server, Ollama). We do not
control its sampler, so its text carries no watermark; the signed manifest and the fingerprint archive still
tag it at birth. Requests go out ``openai_max_concurrency`` at a time (a server batches them), come back in
request order, and are retried with backoff on 429, 5xx and connection errors (see ``biomass.synth.http``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Protocol, Sequence

import numpy as np

from biomass.config import SynthesizeConfig
from biomass.lm.ngram import NgramModel
from biomass.lm.tokenize import whitespace_tokens
from biomass.synth.batch_sampler import BatchSampler, Job, VectorAccept
from biomass.synth.http import RetryPolicy, post_json
from biomass.threads import ordered_map

NGRAM_ID = "biomass.ngram-kn"
NGRAM_VERSION = "1.0"


@dataclass(frozen=True)
class Request:
    prompt: list[str]
    length: int            # words in all, prompt included
    seed: tuple[int, ...]


class Backend(Protocol):
    generator_id: str
    generator_version: str
    watermarked: bool

    def generate(self, prompt: list[str], length: int, seed: Sequence[int]) -> list[str]:
        """Words of one output: the prompt followed by generated words, ``length`` words in all."""

    def generate_many(self, requests: Iterable[Request]) -> Iterator[list[str]]:
        """``generate`` for each request, in request order (however the work is spread)."""


@dataclass
class NgramBackend:
    model: NgramModel
    accept: Callable[[int, int, float], bool] | None
    vector_accept: VectorAccept | None = None
    generator_id: str = NGRAM_ID
    generator_version: str = NGRAM_VERSION
    watermarked: bool = field(init=False)

    def __post_init__(self) -> None:
        self.watermarked = self.accept is not None
        if (self.accept is None) != (self.vector_accept is None):
            raise ValueError("give both the scalar and the vector acceptor of one watermark, or neither")

    def generate(self, prompt: list[str], length: int, seed: Sequence[int]) -> list[str]:
        return self.model.sample(prompt, length, seed, self.accept)

    def generate_many(self, requests: Iterable[Request]) -> Iterator[list[str]]:
        index = self.model.index
        vocab = np.array(self.model.vocab, dtype=object)
        jobs = (Job([index.get(w, 0) for w in r.prompt], r.length, r.seed) for r in requests)
        for ids in BatchSampler(self.model, self.vector_accept).run(jobs):
            yield vocab[ids].tolist()


@dataclass
class OpenAIBackend:
    """Completions over HTTP; ``seed`` is passed on (servers that honour it are deterministic)."""

    config: SynthesizeConfig
    generator_id: str = "openai-compatible"
    generator_version: str = ""
    watermarked: bool = False

    def __post_init__(self) -> None:
        self.generator_version = f"{self.config.openai_model}@{self.config.openai_base_url}"
        cfg = self.config
        self.retry = RetryPolicy(attempts=cfg.openai_max_attempts, base_s=cfg.openai_backoff_s,
                                 max_s=cfg.openai_backoff_max_s)

    def generate(self, prompt: list[str], length: int, seed: Sequence[int]) -> list[str]:
        cfg = self.config
        body = {
            "model": cfg.openai_model,
            "prompt": " ".join(prompt),
            "max_tokens": max(16, 2 * (length - len(prompt))),
            "temperature": cfg.openai_temperature,
            "seed": int(seed[0]) * 1_000_003 + int(seed[-1]),
        }
        headers = {"Content-Type": "application/json"}
        api_key = os.environ.get(cfg.openai_api_key_env)
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        url = cfg.openai_base_url.rstrip("/") + "/completions"
        data = post_json(url, json.dumps(body).encode(), headers, cfg.openai_timeout_s, self.retry)
        try:
            text = data["choices"][0]["text"]
        except (KeyError, IndexError, TypeError) as exc:
            raise ValueError(f"OpenAI-compatible server returned no completion text: {str(data)[:200]}") from exc
        return (list(prompt) + whitespace_tokens(text))[:length]

    def generate_many(self, requests: Iterable[Request]) -> Iterator[list[str]]:
        return ordered_map(lambda r: self.generate(r.prompt, r.length, r.seed), requests,
                           self.config.openai_max_concurrency, name="generate")
