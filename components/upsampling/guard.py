"""The guard around any prompt rewriter: sample a rewrite, check its intent, resample a few
times, else draw from the user's own prompt and say so (DALL-E 3's upsampling must never
cost the user what they asked for).

A rewriter is any callable from a prompt to one sampled rewrite (`Rewriter`): a local model,
a language-model backend, a scripted stub in a test. Each call should sample anew, so that
a retry can differ. A rewriter that raises, returns something other than text, returns
nothing or outlasts `timeout_s` spends one attempt, with its reason kept; no exception of
the rewriter's escapes the guard. An empty prompt is returned as it is without a call, so
that unconditional generation stays possible.

`FallbackStats` adds up results over many prompts: the share of single rewrites that pass
(before the guard) and the share of prompts that fell back (after it).
"""

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from .intent import Intent, compare_intents, read_intent

log = logging.getLogger(__name__)

Rewriter = Callable[[str], str]


@dataclass(frozen=True)
class GuardedRewrite:
    """What the generator should draw from, and how it was reached."""

    text: str  # the passing rewrite, or the prompt itself
    used_fallback: bool  # every attempt failed, `text` is the prompt
    attempts: int  # rewriter calls made (0 for an empty prompt)
    failures: list[str]  # one line per failed attempt: "attempt 1: drops the colour red of the circle"
    note: str  # one line for the user: what was drawn from and why
    rejected: list[str] = field(default_factory=list)  # each failed attempt's text ("" where none came back)


class RewriteTimeout(Exception):
    """The rewriter gave no answer within the guard's time limit."""


def guarded_rewrite(
    prompt: str, rewrite_fn: Rewriter, tries: int = 3, *, timeout_s: float | None = None
) -> GuardedRewrite:
    """A rewrite of `prompt` that keeps its intent, or `prompt` itself after `tries` failures.

    timeout_s: the longest wait for one rewrite; None waits for as long as the rewriter
    takes. A rewriter past its time keeps running in a background thread (a thread cannot be
    stopped), so a backend should also bound its own calls (an HTTP timeout).
    """
    if not isinstance(prompt, str):
        raise TypeError(f"prompt must be a str, got {type(prompt).__name__}: {prompt!r}")
    if isinstance(tries, bool) or not isinstance(tries, int) or tries < 1:
        raise ValueError(f"tries must be an integer >= 1, got {tries!r}")
    if timeout_s is not None and not timeout_s > 0:
        raise ValueError(f"timeout_s must be > 0 or None, got {timeout_s!r}")
    if not prompt.strip():
        return GuardedRewrite(prompt, False, 0, [], "empty prompt: not rewritten")
    intent = read_intent(prompt)
    failures: list[str] = []
    rejected: list[str] = []
    for attempt in range(1, tries + 1):
        text, reason = _attempt(prompt, intent, rewrite_fn, timeout_s)
        if reason is None:
            note = f"rewritten on attempt {attempt} of {tries}"
            return GuardedRewrite(text, False, attempt, failures, note, rejected)
        failures.append(f"attempt {attempt}: {reason}")
        rejected.append(text)
    log.info("prompt upsampling fell back to the prompt %r after %d failed attempts: %s", prompt, tries, failures)
    note = f"drawn from the prompt as written: {tries} rewrite{'s' if tries > 1 else ''} failed the intent check"
    return GuardedRewrite(prompt, True, tries, failures, note, rejected)


def _attempt(prompt: str, intent: Intent, rewrite_fn: Rewriter, timeout_s: float | None) -> tuple[str, str | None]:
    """One rewrite and why it fails (None when it passes)."""
    try:
        text = _call(rewrite_fn, prompt, timeout_s)
    except RewriteTimeout:
        return "", f"the rewriter gave no answer within {timeout_s} s"
    except Exception as error:  # any failure of the rewriter is one failed attempt, by design
        return "", f"the rewriter raised {type(error).__name__}: {error}"
    if not isinstance(text, str):
        return "", f"the rewriter returned {type(text).__name__}, not text"
    if not text.strip():
        return "", "the rewriter returned an empty text"
    verdict = compare_intents(intent, read_intent(text))
    return text, None if verdict.passed else "; ".join(verdict.failures)


def _call(rewrite_fn: Rewriter, prompt: str, timeout_s: float | None) -> object:
    if timeout_s is None:
        return rewrite_fn(prompt)
    texts: list[object] = []
    errors: list[Exception] = []
    done = threading.Event()

    def run() -> None:
        try:
            texts.append(rewrite_fn(prompt))
        except Exception as error:  # handed to the caller's thread below
            errors.append(error)
        finally:
            done.set()

    threading.Thread(target=run, name="prompt-rewriter", daemon=True).start()
    if not done.wait(timeout_s):
        raise RewriteTimeout(f"no rewrite within {timeout_s} s")
    if errors:
        raise errors[0]
    return texts[0]


@dataclass
class FallbackStats:
    """Counts over many guarded rewrites; `add` each result."""

    prompts: int = 0
    skipped: int = 0  # empty prompts, passed through
    too_long: int = 0  # past the rewriter's context, passed through without a call (upsampler.py)
    rewritten: int = 0  # a rewrite passed
    fallbacks: int = 0  # every attempt failed
    first_try: int = 0  # rewritten on the first attempt
    attempts: int = 0  # rewriter calls

    def add(self, result: GuardedRewrite) -> None:
        self.prompts += 1
        self.attempts += result.attempts
        if result.attempts == 0:
            self.too_long += result.used_fallback
            self.skipped += not result.used_fallback
        elif result.used_fallback:
            self.fallbacks += 1
        else:
            self.rewritten += 1
            self.first_try += result.attempts == 1

    @property
    def fallback_rate(self) -> float | None:
        """Share of rewritable prompts drawn from as written; None before any."""
        guarded = self.rewritten + self.fallbacks
        return self.fallbacks / guarded if guarded else None

    @property
    def attempt_pass_rate(self) -> float | None:
        """Share of single rewrites that pass the check (each rewritten prompt has one); None before any."""
        return self.rewritten / self.attempts if self.attempts else None

    def as_dict(self) -> dict[str, int | float | None]:
        return {
            "prompts": self.prompts,
            "skipped": self.skipped,
            "too_long": self.too_long,
            "rewritten": self.rewritten,
            "fallbacks": self.fallbacks,
            "first_try": self.first_try,
            "attempts": self.attempts,
            "fallback_rate": self.fallback_rate,
            "attempt_pass_rate": self.attempt_pass_rate,
        }
