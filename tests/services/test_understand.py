"""What people type: greetings get a short reply, a near-miss service name gets "did you mean", the rest is
investigated (the pure service, then through the real Bolt app against the sandbox shop)."""

from __future__ import annotations

import pytest

from sre_bot.services.understand import MAX_LISTED, greeting, near_miss, understand
from tests.fakes.slack_api import BOT_USER_ID, FakeSlack
from tests.harness import running_bot
from tests.slack_signing import app_mention

# every service name of the shipped sandbox scenarios, plus one that is an ordinary word's near neighbour
SERVICES = ["api-gateway", "auth-service", "billing-api", "campaigns-api", "card-gateway", "cart", "cart-db", "catalog",
            "catalog-db", "checkout", "coredns", "email-worker", "feature-store", "feed-api", "finance-ui", "frontend",
            "geo-api", "image-worker", "inventory-api", "inventory-db", "ledger-api", "ledger-db", "media-store",
            "notifications-api", "orders-api", "orders-db", "payments-api", "payments-db", "profile-api",
            "profile-db", "push-provider", "recommendations", "reporting-batch", "reports-api", "reports-db",
            "search-api", "search-db", "search-index", "session-cache", "shipping-api", "smtp-relay", "upload-api",
            "users-api", "users-db", "web", "flow"]
NAMES = {s: s for s in SERVICES}

# questions people ask that name no service (or name one exactly): none of them is a "did you mean"
ORDINARY_QUESTIONS = """why is the site slow?
what is broken?
is anything on fire?
why are errors up?
what changed in the last hour?
why is latency high?
is the database down?
any deploys today?
what's wrong?
show me the logs
who deployed last?
why are requests timing out?
why are orders failing?
why is search slow?
why are payments failing?
why is the checkout page slow
why are users seeing 500s?
why did the error rate spike at 14:05?
is there an incident?
why is the queue backing up?
why is memory growing?
why are pods restarting?
why is cpu throttled?
why is p99 latency up?
why is everything slow since the release?
why are emails delayed?
why is login broken for customers?
did someone roll back?
are caches cold?
why is the cache hit rate low?
why are workers stuck?
why is the batch job late?
why is auth failing?
why are notifications late?
why is shipping down?
why is dns resolution slow?
is the network ok?
what happened overnight?
why is disk filling up?
what alerts are firing?
why is prod slow?
why are we dropping requests?
why do checkouts fail?
why is throughput down?
why are sessions expiring?
why are recommendations stale?
why is billing failing?
anything unusual in the last 30m?
why is traffic so high
why is it slow
why is flow slow
why is checkout slow?
why is payments-api returning 504s?""".splitlines()


@pytest.mark.parametrize("question", ORDINARY_QUESTIONS)
def test_ordinary_questions_are_investigated(question: str) -> None:
    """A question with no near-miss word ("slow" is not "flow") or with a known name is investigated as before."""
    u = understand(question, NAMES)
    assert u.kind == "investigate", u.text


@pytest.mark.parametrize(("question", "word", "meant"), [
    ("why is chekout slow?", "chekout", "checkout"),
    ("is paymnts down", "paymnts", "payments-api"),
    ("why is fronted returning 500s", "fronted", "frontend"),
    ("why is notificaitons-api failing", "notificaitons-api", "notifications-api"),
    ("why is recomendations slow", "recomendations", "recommendations"),
    ("why is catalgo slow?", "catalgo", "catalog"),
    ("coredsn timing out", "coredsn", "coredns"),
    ("why is smtp slow", "smtp", "smtp-relay"),
])
def test_a_near_miss_gets_did_you_mean(question: str, word: str, meant: str) -> None:
    """A word close to a service name, and not an ordinary word, is named back with the services it may mean."""
    u = understand(question, NAMES)
    assert u.kind == "unknown_service" and u.word == word and meant in u.suggestions
    assert u.text.startswith(f"I don't know `{word}`. Did you mean ") and f"`{meant}`" in u.text


def test_the_known_services_listed_are_bounded() -> None:
    """The reply lists at most MAX_LISTED services and says how many more there are."""
    u = understand("why is chekout slow?", NAMES)
    listed = u.text.split("Services I know: ")[1]
    assert listed.count("`") == 2 * MAX_LISTED and f"and {len(set(SERVICES)) - MAX_LISTED} more" in listed


def test_no_known_services_means_no_near_miss() -> None:
    """With nothing known there is nothing to be close to: the question is investigated (or gets help)."""
    assert near_miss("why is chekout slow?", {}) is None


def test_aliases_are_matched_and_the_canonical_name_suggested() -> None:
    """A typo of an alias suggests the service it stands for."""
    assert near_miss("why is paymnt-gw slow?", {"payment-gw": "payments-api", "payments-api": "payments-api"}) == (
        "paymnt-gw", ["payments-api"])


@pytest.mark.parametrize(("text", "kind"), [
    ("thanks!", "thanks"), ("thank you", "thanks"), ("Thanks a lot sre-bot 🙏", "thanks"), ("ty", "thanks"),
    ("hi", "hello"), ("hello", "hello"), ("hey there!", "hello"), ("good morning", "hello"),
    ("ok", "ack"), ("cool", "ack"), ("👍", "ack"), (":+1:", "ack"), ("sounds good", "ack"), ("got it, thanks", "thanks"),
])
def test_greetings_and_thanks_are_recognised(text: str, kind: str) -> None:
    """A text made only of a greeting, thanks or acknowledgement (and emoji) is that, and gets a friendly reply."""
    assert greeting(text) == kind
    u = understand(text, NAMES)
    assert u.kind == "greeting" and "why is" in u.text


@pytest.mark.parametrize("text", ["thanks, but why is checkout slow?", "hi, is checkout down?", "ok so what broke?",
                                  "🔥", "why?", "good grief everything is down"])
def test_a_question_with_a_greeting_in_it_is_still_a_question(text: str) -> None:
    """Only a text that is nothing but a greeting is one."""
    assert greeting(text) is None


@pytest.fixture
def fake(fake_slack: FakeSlack) -> FakeSlack:
    return fake_slack


async def test_a_mention_with_a_typo_gets_did_you_mean_and_no_investigation(fake, shop) -> None:
    """`@sre-bot why is chekout slow?` through the real Bolt app: "did you mean `checkout`?", no investigation."""
    async with running_bot(fake, config=shop.config, **shop.urls.as_env()) as bot:
        await bot.post(app_mention(f"<@{BOT_USER_ID}> why is chekout slow?", channel="C7"))
        [update] = await fake.wait_for("chat.update", timeout=20)
    text = str(update.args["blocks"])
    assert "I don't know `chekout`. Did you mean `checkout`?" in text and "`payments-api`" in text
    assert "Checked" not in text and "confidence" not in text


async def test_a_mention_saying_thanks_gets_a_short_reply(fake, shop) -> None:
    """`@sre-bot thanks!` gets "You're welcome!" with a hint of what to ask, not an investigation."""
    async with running_bot(fake, config=shop.config, **shop.urls.as_env()) as bot:
        await bot.post(app_mention(f"<@{BOT_USER_ID}> thanks!", channel="C8"))
        [update] = await fake.wait_for("chat.update", timeout=20)
    text = str(update.args["blocks"])
    assert "You're welcome!" in text and "why is" in text and "Checked" not in text
