"""Prompt upsampling (DALL-E 3, section on prompt upsampling): short user prompts rewritten
into the detailed captions the generator learnt from, with the user's intent checked.

intent.py reads the facts a prompt states and checks a rewrite against them; guard.py wraps
any rewriter in that check, resampling and falling back to the prompt as written.
"""

from .guard import FallbackStats, GuardedRewrite, Rewriter, RewriteTimeout, guarded_rewrite
from .intent import Intent, IntentVerdict, check_intent, compare_intents, read_intent

__all__ = [
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
