"""The instruction every language-model rewriter gets, in the spirit of DALL-E 3's upsampling
prompt (its appendix C): keep the subject and every stated fact, add plausible visual
detail, be specific, quote any text to be drawn, 15-80 words, vary. `chat_messages` is the
conversation a chat model is given for one prompt (OpenAI's chat-completions roles);
`opening_sentence` is the prompt as the first sentence of a rewrite that keeps it (a model run
here can be made to begin its answer with it and continue from there); `check_sampling` refuses
sampling settings that no chat model takes, for the local and the remote backend alike.

The local rewriter's own chat template reads the user's turn alone: it learnt one task from
(short, long) caption pairs, and a system turn would only spend its small context."""

from __future__ import annotations

SYSTEM_PROMPT = (
    "You rewrite a short image prompt into one detailed description that an image generator "
    "trained on descriptive captions will follow. Keep the subject and every fact the prompt "
    "states: each object with its colour, shape, size and count, where it is, how objects are "
    "placed relative to each other, the background, and any text to be drawn. Never change or "
    "drop one of them and never contradict them. Keep every word you do not recognise exactly "
    "as written. Add plausible visual detail the prompt leaves open, and be specific: name "
    "colours, sizes and places rather than vague words. Put any text to be drawn in quotes. "
    "Write plain sentences, 15 to 80 words, and nothing else: no preamble, no list, no "
    "explanation. Vary your wording from one request to the next."
)


def check_sampling(temperature: float, top_p: float, tokens: int, tokens_name: str) -> None:
    """Raises ValueError naming the setting: `tokens` is the reply's token limit, called
    `tokens_name` where the caller gives it (max_new_tokens, max_tokens)."""
    if not temperature >= 0:
        raise ValueError(f"temperature must be >= 0 (0 decodes greedily), got {temperature!r}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1:
        raise ValueError(f"{tokens_name} must be an integer >= 1, got {tokens!r}")


def opening_sentence(prompt: str) -> str:
    """ "a red circle" -> "A red circle."; a prompt that ends a sentence keeps its own stop."""
    sentence = " ".join(prompt.split())
    sentence = sentence[:1].upper() + sentence[1:]
    return sentence if sentence[-1:] in ".!?" else sentence + "."


def chat_messages(prompt: str, system_prompt: str = SYSTEM_PROMPT) -> list[dict[str, str]]:
    """[system, user] turns for one prompt; an empty system prompt leaves the system turn out."""
    turns = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return [*turns, {"role": "user", "content": prompt}]
