"""diffuse: the science of "Forcing Diffuse Distributions out of Language Models" as plain functions.

Modules: tasks/targets (target sets, chat-template encoding), train (Eq. 5, LoRA), lm (shared-prompt
scoring and sampling), sampling (backends), parsing, metrics, evaluate, reporting (tables and figures).
"""

__version__ = "0.1.0"
