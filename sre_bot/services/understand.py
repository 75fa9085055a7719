"""What a person typed, before anything is investigated: a greeting or thanks gets a short friendly reply; a
question naming no known service but a word close to one ("why is chekout slow?") gets "did you mean"; anything
else is a question to investigate. Used by mentions (`services/mention.py`) and `sre-bot ask` alike.

A word is a near miss only when it is not an ordinary word (English or operations vocabulary, with its plural or
-ed/-ing forms) and `difflib` finds it close to a service name, or to a distinctive part of one ("paymnts" →
payments-api). So "why is the site slow?" is investigated, never "did you mean flow?".
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Literal

from .names import find_service
from .reply import Reply

__all__ = ["Understood", "understand", "greeting", "near_miss", "understood_reply", "MAX_LISTED"]

MAX_LISTED = 12  # known services named in a "did you mean" reply
_CUTOFF = 0.8  # difflib ratio: chekout/checkout 0.93, paymnts/payments 0.93; slow/flow 0.75, cart/card 0.75
_MIN_LEN = 4

# ordinary English and operations words: never "did you mean" (their -s/-ed/-ing forms neither)
_ORDINARY_WORDS = """
a about above after again against ago all also always am an and any anything anyone are around as at back be because
been before being below between both but by can cannot could did do does doing done down during each either else
ever every everything few for from further get gets getting give go goes going gone got had has have having he her
here hers him his how i if in into is it its itself just know last least less let like likely look looking looks lot
made make makes many may maybe me might more most much must my need needs never new next no not nothing now of off
often on once one only or other our out over own please quite rather really right same see seem seems seemed she
should show shows since so some something still such sure take tell than that the their them then there these they
thing things think this those though through to too under until up us very via was way we well were what whats when
where whether which while who whom whose why will with within without would yes yet you your yours able actually
already another anybody bad badly better big bit certain check checking clear currently different early else fine
first good great happen happened happening happens help high higher huge keep kind large late later long low lower
many mean means normal odd okay once people point problem problems quick quickly real recent recently same several
short since small sometimes soon strange sudden suddenly unusual usual usually weird whole wrong today yesterday
tomorrow tonight morning afternoon evening night week weeks day days hour hours minute minutes second seconds month
months time times moment earlier meanwhile lately slow slower slowly slowness fast faster speed latency latencies
lag laggy delay delayed delays timeout timeouts timing error errors erroring fail fails failed failing failure
failures broken break breaks broke crash crashes crashed crashing down outage outages incident incidents issue
issues degraded degradation flaky spike spikes spiking spiky surge drop drops dropped dropping rise rising rose fell
falling increase increased increasing decrease decreased jump jumped elevated unhealthy healthy health status stuck
hang hanging hung backing behind backlog alert alerts alerting firing fired page paged paging oncall pager noisy
noise loud quiet deploy deploys deployed deploying deployment deployments rollout rollouts rollback release released
releases version versions revision change changes changed config configuration flag flags feature features commit
memory leak leaking cpu cpus disk disks space storage saturation saturated throttling throttled oom killed restart
restarts restarted restarting pod pods node nodes container containers cluster clusters namespace kubernetes service
services server servers host hosts instance instances replica replicas network networking dns database databases db
query queries queue queues cache caches cached caching connection connections pool pools request requests response
responses traffic load throughput rate rates ratio percent percentile users user customers customer client clients
site website web app apps application applications api apis endpoint endpoints gateway backend backends frontend
upstream downstream dependency dependencies call calls calling called log logs logging metric metrics trace traces
tracing dashboard dashboards graph grafana prometheus loki argo argocd alertmanager kube slack bot sre team login
logins signup checkout checkouts payment payments pay order orders ordering search searches searching image images
email emails mail upload uploads uploading download report reports reporting shipping ship inventory catalog
catalogue product products cart carts basket session sessions profile profiles account accounts feed feeds
notification notifications push store stores billing invoice invoices ledger finance campaign campaigns media video
provider relay worker workers batch batches job jobs cron index indexes indexing auth authentication recommendation
recommendations price prices pricing stock geo location map maps investigate explain root cause causes caused
causing wrong going broken status what's who's it's isn't aren't wasn't doesn't don't didn't can't won't add build
come count cut drop fill find fix grow hit hold lose lost miss move open close read write send receive return serve
process handle connect resolve run ran runs start stop wait retry retries sync reach expire empty full blank stale
cold warm hot heavy light dead alive missing gone overnight prod production staging dev test tests storefront ui ux
mobile ios android lookup count counts number numbers rolled roll rolling scale scaled scaling shed shedding spin
spinning loop looping leak burn burning page pages click clicks button buttons load loading loaded sign signing open
opening pending waiting flapping partial partially intermittent intermittently random randomly constant constantly
affected affecting impact impacted region regions zone zones
"""
_ORDINARY = frozenset(_ORDINARY_WORDS.split())

_SUFFIXES = ("ing", "ed", "es", "s", "er", "ers", "ly", "d")

# a greeting is a text made only of these words, with at least one of its kind's own (`_CORE`)
_CORE = {
    "thanks": frozenset({"thanks", "thank", "thx", "ty", "tysm", "cheers", "thankyou", "ta", "appreciated",
                         "appreciate", "kudos"}),
    "hello": frozenset({"hi", "hello", "hey", "heya", "hiya", "yo", "howdy", "hola", "morning", "gm", "afternoon",
                        "evening"}),
    "ack": frozenset({"ok", "okay", "k", "kk", "cool", "nice", "great", "awesome", "perfect", "gotcha", "understood",
                      "noted", "alright", "excellent", "lol", "wow", "yay", "sweet", "good", "fine", "sure", "got"}),
}
_FILLER = frozenset({"you", "so", "much", "a", "lot", "very", "many", "it", "that", "this", "there", "all", "team",
                     "folks", "good", "sounds", "makes", "sense", "got", "for", "the", "help", "again", "bot", "sre",
                     "sre-bot", "srebot", "buddy", "mate", "man", "friend", "and", "oh", "ah", "great"})
_ACK_EMOJI = ("👍", "🙏", "👌", "🎉", "🙌", "✅", "💯", "❤", "👋", "😊", "🙂", "😀", ":+1:", ":thumbsup:", ":pray:",
              ":tada:", ":ok_hand:", ":raised_hands:", ":white_check_mark:", ":wave:", ":slightly_smiling_face:")

_HINT = "Ask me about a service, e.g. “why is {example} slow?”."


@dataclass(frozen=True)
class Understood:
    """What to do with a text: `investigate` it, or answer with `text` (a greeting, or did-you-mean)."""

    kind: Literal["investigate", "greeting", "unknown_service"]
    text: str = ""
    word: str | None = None  # the unknown word, for unknown_service
    suggestions: list[str] = field(default_factory=list)


def _words(text: str) -> list[str]:
    """The words of `text`, lowercased; Slack markup (`<@U123>`, `<#C1|name>`, `<https://…|label>`) and bare links
    left out."""
    plain = re.sub(r"<[^>]*>|https?://\S+", " ", text.lower()).replace("’", "'")
    return re.findall(r"[a-z][a-z0-9'_-]*[a-z0-9]|[a-z]", plain)


def greeting(text: str) -> str | None:
    """"thanks" / "hello" / "ack" when the whole text is only that (with emoji, punctuation, "bot"), else None."""
    words = set(_words(text))
    if not words:
        return "ack" if any(e in text for e in _ACK_EMOJI) else None
    for kind in ("thanks", "hello", "ack"):
        if words & _CORE[kind] and words <= _CORE[kind] | _FILLER:
            return kind
    return None


def _ordinary(word: str) -> bool:
    if word in _ORDINARY:
        return True
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            stem = word[: -len(suffix)]
            if stem in _ORDINARY or stem + "e" in _ORDINARY:
                return True
    return False


def _inflection_of(word: str, name: str) -> bool:
    """`word` is `name` with a plural or verb ending ("caches", "cached"): a word in use, not a typo."""
    return word.startswith(name) and word[len(name):] in _SUFFIXES


def near_miss(text: str, names: dict[str, str]) -> tuple[str, list[str]] | None:
    """(the unknown word, the services it is close to) when `text` names no known service but has a word close to
    one; None otherwise (a known name, a general question, or nothing close)."""
    if not names or find_service(text, names) is not None:
        return None
    candidates: dict[str, set[str]] = {}  # a spelling a person might mean -> canonical service names
    for alias, canonical in names.items():
        low = alias.lower()
        candidates.setdefault(low, set()).add(canonical)
        for part in re.split(r"[-_.]", low):
            if len(part) >= _MIN_LEN and part != low:
                candidates.setdefault(part, set()).add(canonical)
    for word in _words(text):
        if len(word) < _MIN_LEN or _ordinary(word) or any(_inflection_of(word, c) for c in candidates):
            continue
        close = difflib.get_close_matches(word, list(candidates), n=5, cutoff=_CUTOFF)
        if close:
            found = sorted({s for c in close for s in candidates[c]},
                           key=lambda s: (-difflib.SequenceMatcher(None, word, s.lower()).ratio(), s))
            return word, found[:3]
    return None


def _example(names: dict[str, str]) -> str:
    canonical = sorted(set(names.values()))
    return canonical[0] if canonical else "checkout"


def understand(text: str, names: dict[str, str]) -> Understood:
    """Greeting, unknown service (did you mean), or a question to investigate. Pure: `names` from `known_services`."""
    kind = greeting(text)
    if kind is not None:
        opener = {"thanks": "You're welcome!", "hello": "Hi!", "ack": "👍"}[kind]
        return Understood("greeting", f"{opener} {_HINT.format(example=_example(names))}")
    missed = near_miss(text, names)
    if missed is None:
        return Understood("investigate")
    word, suggestions = missed
    known = sorted(set(names.values()))
    listed = ", ".join(f"`{n}`" for n in known[:MAX_LISTED]) + (
        f" and {len(known) - MAX_LISTED} more" if len(known) > MAX_LISTED else "")
    means = " or ".join(f"`{s}`" for s in suggestions)
    return Understood("unknown_service", f"I don't know `{word}`. Did you mean {means}? Services I know: {listed}.",
                      word=word, suggestions=suggestions)


def understood_reply(u: Understood) -> Reply:
    """The reply for a greeting or an unknown service (not for `investigate`)."""
    if u.kind == "unknown_service":
        return Reply(kind="help", title="Which service?", text=u.text)
    return Reply(kind="help", title="sre-bot", text=f"{u.text} Say `help` for what else I can do.")
