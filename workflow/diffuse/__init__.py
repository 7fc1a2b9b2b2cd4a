"""diffuse: the science of "Forcing Diffuse Distributions out of Language Models" as plain functions.

Modules: tasks/targets (target sets, chat-template encoding), train (Eq. 5, LoRA), lm (shared-prompt
scoring and sampling), sampling (backends), parsing, metrics, evaluate, biographies, maps, utility;
the paper subpackage draws the tables and figures, one module per paper section.
"""

__version__ = "0.1.0"
