"""Prompt upsampling (DALL-E 3, section on prompt upsampling): short user prompts rewritten
into the detailed captions the generator learnt from, with the user's intent checked.

intent.py reads the facts a prompt states and checks a rewrite against them; guard.py wraps
any rewriter in that check, resampling and falling back to the prompt as written;
upsampler.py holds one rewriter behind the guard. The rewriters: causal_lm.py (any
transformers causal LM or encoder-decoder with a chat template, the local one of model.py and
train/ included, causal or seq2seq by its preset), openai_chat.py (any OpenAI-compatible
chat-completions endpoint); backends.py picks one from configuration, and chat_server.py
serves a language model in the chat-completions format. contradiction_ban.py keeps a local
model's sampling from writing what would contradict the prompt (denials.py: what a negation may
not name).
"""

from .backends import RewriterSettings, open_upsampler
from .causal_lm import CausalLMRewriter
from .chat_server import ChatServer, serve_chat_completions
from .contradiction_ban import ContradictionBan
from .guard import FallbackStats, GuardedRewrite, Rewriter, RewriteTimeout, guarded_rewrite
from .intent import Intent, IntentVerdict, check_intent, compare_intents, read_intent
from .openai_chat import ChatEndpointError, ChatEndpointTimeout, OpenAIChatRewriter
from .upsampler import Upsampler

__all__ = [
    "CausalLMRewriter",
    "ChatEndpointError",
    "ChatEndpointTimeout",
    "ChatServer",
    "ContradictionBan",
    "OpenAIChatRewriter",
    "RewriterSettings",
    "Upsampler",
    "open_upsampler",
    "serve_chat_completions",
    "FallbackStats",
    "GuardedRewrite",
    "Intent",
    "IntentVerdict",
    "RewriteTimeout",
    "Rewriter",
    "check_intent",
    "compare_intents",
    "guarded_rewrite",
    "read_intent",
]
