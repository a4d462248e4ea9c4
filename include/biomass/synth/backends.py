"""Generator backends, chosen by ``SynthesizeConfig.backend``.

``ngram``: the embedded Kneser-Ney model, watermarked in its sampling loop.
``openai``: any server speaking the OpenAI completions protocol (vLLM, llama.cpp's server, Ollama). We do not
control its sampler, so its text carries no watermark; the signed manifest and the fingerprint archive still
tag it at birth.
"""

from __future__ import annotations

import json
import os
import urllib.request
from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

from biomass.config import SynthesizeConfig
from biomass.synth.ngram import NgramModel
from biomass.synth.tokens import words

NGRAM_ID = "biomass.ngram-kn"
NGRAM_VERSION = "1.0"


class Backend(Protocol):
    generator_id: str
    generator_version: str
    watermarked: bool

    def generate(self, prompt: list[str], length: int, seed: Sequence[int]) -> list[str]:
        """Words of one output: the prompt followed by generated words, ``length`` words in all."""


@dataclass
class NgramBackend:
    model: NgramModel
    accept: Callable[[int, int, float], bool] | None
    generator_id: str = NGRAM_ID
    generator_version: str = NGRAM_VERSION
    watermarked: bool = field(init=False)

    def __post_init__(self) -> None:
        self.watermarked = self.accept is not None

    def generate(self, prompt: list[str], length: int, seed: Sequence[int]) -> list[str]:
        return self.model.sample(prompt, length, seed, self.accept)


@dataclass
class OpenAIBackend:
    """Completions over HTTP; ``seed`` is passed on (servers that honour it are deterministic)."""

    config: SynthesizeConfig
    generator_id: str = "openai-compatible"
    generator_version: str = ""
    watermarked: bool = False

    def __post_init__(self) -> None:
        self.generator_version = f"{self.config.openai_model}@{self.config.openai_base_url}"

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
        request = urllib.request.Request(cfg.openai_base_url.rstrip("/") + "/completions",
                                         data=json.dumps(body).encode(), headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=cfg.openai_timeout_s) as response:
            data = json.loads(response.read().decode("utf-8"))
        try:
            text = data["choices"][0]["text"]
        except (KeyError, IndexError, TypeError) as exc:
            raise ValueError(f"OpenAI-compatible server returned no completion text: {str(data)[:200]}") from exc
        return (list(prompt) + words(text))[:length]
