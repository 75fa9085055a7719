"""Slack's side of the tests: the fake Web API (tests/fakes/slack_api.py) and the request signer
(tests/slack_signing.py) behave like Slack for the real slack_sdk clients and Bolt app."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from tests import slack_signing as signing
from tests.fakes.slack_api import BOT_ID, BOT_USER_ID, TEAM_ID, FakeSlack

TOKEN = "xoxb-test-token"


@pytest.fixture
def client(fake_slack: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=fake_slack.api_url)


async def test_auth_test_returns_the_bot_identity(client: AsyncWebClient) -> None:
    """auth.test answers with the team, bot user and bot id."""
    resp = await client.auth_test()
    assert (resp["ok"], resp["team_id"], resp["user_id"], resp["bot_id"]) == (True, TEAM_ID, BOT_USER_ID, BOT_ID)
    assert resp["url"].startswith("https://")


async def test_post_message_is_recorded_as_json_with_bearer_token(fake_slack: FakeSlack, client) -> None:
    """chat.postMessage arrives as JSON with the bearer token, and its arguments are recorded."""
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    await client.chat_postMessage(channel="C111", text="hi", blocks=blocks)
    [call] = fake_slack.calls("chat.postMessage")
    assert call.args["blocks"] == blocks
    assert call.headers["authorization"] == f"Bearer {TOKEN}"
    assert call.headers["content-type"].startswith("application/json")
    assert call.at <= time.time()


async def test_post_message_timestamps_increase_and_threads_are_kept(fake_slack: FakeSlack, client) -> None:
    """Each message gets a new, larger ts; replies keep their thread_ts."""
    first = await client.chat_postMessage(channel="C111", text="parent")
    reply = await client.chat_postMessage(channel="C111", text="reply", thread_ts=first["ts"])
    assert float(reply["ts"]) > float(first["ts"])
    assert first["ts"] == "1700000000.000100"
    assert reply["channel"] == "C111" and reply["message"]["thread_ts"] == first["ts"]
    assert [m["text"] for m in fake_slack.messages("C111")] == ["parent", "reply"]
    assert fake_slack.messages("C222") == []


async def test_update_edits_the_stored_message(fake_slack: FakeSlack, client) -> None:
    """chat.update replaces the text of the stored message with that ts."""
    posted = await client.chat_postMessage(channel="C111", text="working…")
    resp = await client.chat_update(channel="C111", ts=posted["ts"], text="done")
    assert resp["ts"] == posted["ts"]
    assert fake_slack.messages("C111")[0]["text"] == "done"


async def test_update_of_unknown_message_fails(client: AsyncWebClient) -> None:
    """chat.update of a ts that was never posted fails with message_not_found."""
    with pytest.raises(SlackApiError) as err:
        await client.chat_update(channel="C111", ts="1.000001", text="x")
    assert err.value.response["error"] == "message_not_found"


async def test_post_message_without_content_fails(client: AsyncWebClient) -> None:
    """A message with no text, blocks or attachments fails with no_text, as on Slack."""
    with pytest.raises(SlackApiError, match="no_text"):
        await client.api_call("chat.postMessage", json={"channel": "C111"})


async def test_missing_token_is_not_authed(fake_slack: FakeSlack) -> None:
    """A call without any token is refused with not_authed but still recorded."""
    async with httpx.AsyncClient() as http:
        resp = await http.post(fake_slack.api_url + "auth.test")
    assert resp.json() == {"ok": False, "error": "not_authed"}
    assert [c.method for c in fake_slack.calls()] == ["auth.test"]


async def test_unaccepted_token_is_invalid_auth(fake_slack: FakeSlack) -> None:
    """A token outside the accepted set is refused with invalid_auth."""
    fake_slack.accepted_tokens = {"xoxb-the-right-one"}
    with pytest.raises(SlackApiError, match="invalid_auth"):
        await AsyncWebClient(token="xoxb-wrong", base_url=fake_slack.api_url).auth_test()
    assert (await AsyncWebClient(token="xoxb-the-right-one", base_url=fake_slack.api_url).auth_test())["ok"]


async def test_default_accepts_only_bot_and_app_tokens(fake_slack: FakeSlack) -> None:
    """By default any xoxb-/xapp- token is accepted and a user (xoxp-) token is not."""
    async with httpx.AsyncClient(base_url=fake_slack.api_url) as http:
        for token, expected in [("xoxb-1", True), ("xapp-1", True), ("xoxp-1", False)]:
            resp = await http.post("auth.test", headers={"Authorization": f"Bearer {token}"})
            assert resp.json()["ok"] is expected, token


async def test_unknown_method_is_an_error(client: AsyncWebClient) -> None:
    """A method the fake does not implement answers unknown_method."""
    with pytest.raises(SlackApiError, match="unknown_method"):
        await client.api_call("files.upload")


async def test_scripted_error_applies_once(fake_slack: FakeSlack, client) -> None:
    """A scripted error is returned for the next call only."""
    fake_slack.script_error("chat.postMessage", "channel_not_found")
    with pytest.raises(SlackApiError, match="channel_not_found"):
        await client.chat_postMessage(channel="C111", text="x")
    assert (await client.chat_postMessage(channel="C111", text="x"))["ok"]


async def test_scripted_ratelimit_is_a_429_with_retry_after(fake_slack: FakeSlack, client) -> None:
    """A scripted rate limit answers HTTP 429 with Retry-After and error ratelimited."""
    fake_slack.script_ratelimit("chat.update", retry_after=7)
    with pytest.raises(SlackApiError) as err:
        await client.chat_update(channel="C111", ts="1.1", text="x")
    assert err.value.response.status_code == 429
    assert err.value.response.headers["Retry-After"] == "7"
    assert err.value.response["error"] == "ratelimited"


async def test_form_encoded_calls_from_the_sync_client(fake_slack: FakeSlack) -> None:
    """The sync WebClient's form and query-string calls work and are recorded."""
    sync = WebClient(token=TOKEN, base_url=fake_slack.api_url)
    blocks = [{"type": "divider"}]
    resp = await asyncio.to_thread(sync.api_call, "chat.postEphemeral",
                                   data={"channel": "C111", "user": "U1", "blocks": '[{"type": "divider"}]'})
    user = await asyncio.to_thread(sync.users_info, user="W123")
    assert resp["message_ts"] and user["user"]["name"] == "w123"
    assert fake_slack.calls("chat.postEphemeral")[0].args["blocks"] == blocks


async def test_users_and_conversations_info(fake_slack: FakeSlack, client) -> None:
    """users.info and conversations.info return registered or generated objects, and not_found errors."""
    fake_slack.add_user("U42", "alice", "Alice Liddell")
    fake_slack.add_channel("C42", "incidents")
    assert (await client.users_info(user="U42"))["user"]["real_name"] == "Alice Liddell"
    assert (await client.conversations_info(channel="C42"))["channel"]["name"] == "incidents"
    with pytest.raises(SlackApiError, match="user_not_found"):
        await client.users_info(user="nobody")
    with pytest.raises(SlackApiError, match="channel_not_found"):
        await client.conversations_info(channel="#nope")


async def test_permalink_ephemeral_and_reactions(client: AsyncWebClient) -> None:
    """chat.getPermalink links to a thread reply, postEphemeral gives a message_ts, reactions.add refuses a repeat."""
    parent = await client.chat_postMessage(channel="C111", text="p")
    reply = await client.chat_postMessage(channel="C111", text="r", thread_ts=parent["ts"])
    link = (await client.chat_getPermalink(channel="C111", message_ts=reply["ts"]))["permalink"]
    assert link.endswith(f"/archives/C111/p{reply['ts'].replace('.', '')}?thread_ts={parent['ts']}&cid=C111")
    assert (await client.chat_postEphemeral(channel="C111", user="U1", text="psst"))["message_ts"]
    await client.reactions_add(channel="C111", timestamp=parent["ts"], name="eyes")
    with pytest.raises(SlackApiError, match="already_reacted"):
        await client.reactions_add(channel="C111", timestamp=parent["ts"], name="eyes")


async def test_views_open_and_update(client: AsyncWebClient) -> None:
    """views.open returns a view id that views.update can replace; an unknown id is not_found."""
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Approve"}, "blocks": []}
    opened = await client.views_open(trigger_id="111.222.abc", view=view)
    view_id = opened["view"]["id"]
    updated = await client.views_update(view_id=view_id, view={**view, "private_metadata": "x"})
    assert updated["view"]["id"] == view_id and updated["view"]["private_metadata"] == "x"
    with pytest.raises(SlackApiError, match="not_found"):
        await client.views_update(view_id="V404", view=view)


async def test_response_url_posts_are_recorded(fake_slack: FakeSlack) -> None:
    """A post to a response_url is recorded as method response_url with its JSON body."""
    url = fake_slack.response_url("cmd-1")
    resp = await AsyncWebhookClient(url).send_dict({"text": "hello", "response_type": "ephemeral"})
    assert resp.status_code == 200
    [call] = await fake_slack.wait_for("response_url")
    assert call.args == {"text": "hello", "response_type": "ephemeral"} and call.path == "/response/cmd-1"


async def test_wait_for_wakes_up_on_a_later_call(fake_slack: FakeSlack, client) -> None:
    """wait_for returns once a call made after it started arrives."""

    async def post_later() -> None:
        await asyncio.sleep(0.05)
        await client.chat_postMessage(channel="C1", text="x")

    task = asyncio.create_task(post_later())
    calls = await fake_slack.wait_for("chat.postMessage", timeout=2)
    await task
    assert [c.args["text"] for c in calls] == ["x"]


async def test_wait_for_timeout_lists_recorded_calls(fake_slack: FakeSlack, client) -> None:
    """wait_for fails with an AssertionError that names the calls it did see."""
    await client.auth_test()
    with pytest.raises(AssertionError, match=r"(?s)chat\.update.*got 0.*auth\.test"):
        await fake_slack.wait_for("chat.update", timeout=0.1)


async def test_reset_forgets_calls_and_messages(fake_slack: FakeSlack, client) -> None:
    """reset() empties the call log and the stored messages."""
    await client.chat_postMessage(channel="C111", text="x")
    fake_slack.reset()
    assert fake_slack.calls() == [] and fake_slack.messages("C111") == []


def test_sync_tests_can_run_a_fake() -> None:
    """FakeSlack.running() serves synchronous tests and the sync WebClient."""
    with FakeSlack.running() as fake:
        assert WebClient(token=TOKEN, base_url=fake.api_url).auth_test()["user_id"] == BOT_USER_ID


# ----- tests/slack_signing.py: requests signed as Slack signs them -------------------------------------------------

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
PAYLOADS = SHARED / "fixtures" / "slack" / "payloads"
SECRET = "signing-secret-for-tests"
BODIES = {
    "url_verification": signing.url_verification(),
    "app_mention": signing.app_mention("<@U1> status checkout", thread_ts="1700000000.000100"),
    "slash_command": signing.slash_command("/sre", "status checkout 1h"),
    "block_actions": signing.block_actions("approve", "req-1"),
}


def test_signer_reproduces_slacks_test_vector() -> None:
    """sign() and signed_headers() give exactly the signature in Slack's documented test vector."""
    vector = json.loads((PAYLOADS / "signature_v0_test_vector.json").read_text())
    assert signing.sign(vector["signing_secret"], vector["timestamp"], vector["body"]) == vector["expected_signature"]
    headers = signing.signed_headers(vector["signing_secret"], vector["body"], now=int(vector["timestamp"]))
    assert {k: headers[k] for k in vector["headers"]} == vector["headers"]


@pytest.mark.parametrize("name", BODIES)
def test_signature_verifier_accepts_good_requests(name: str) -> None:
    """slack_sdk's SignatureVerifier accepts every builder's body as signed."""
    body = BODIES[name]
    headers = signing.signed_headers(SECRET, body)
    assert SignatureVerifier(SECRET).is_valid_request(body.text, headers)
    assert headers["Content-Type"] == body.content_type


@pytest.mark.parametrize("option", ["bad_signature", "stale"])
def test_signature_verifier_rejects_bad_and_stale_requests(option: str) -> None:
    """A tampered signature or a timestamp older than five minutes is rejected."""
    body = BODIES["slash_command"]
    headers = signing.signed_headers(SECRET, body, **{option: True})
    assert not SignatureVerifier(SECRET).is_valid_request(body.text, headers)
    assert not SignatureVerifier(SECRET).is_valid_request(body.text + "&x=1", signing.signed_headers(SECRET, body))


def test_retry_headers() -> None:
    """A retry carries Slack's X-Slack-Retry-Num and X-Slack-Retry-Reason headers."""
    headers = signing.signed_headers(SECRET, BODIES["app_mention"], retry_num=1)
    assert (headers["X-Slack-Retry-Num"], headers["X-Slack-Retry-Reason"]) == ("1", "http_timeout")
    assert "X-Slack-Retry-Num" not in signing.signed_headers(SECRET, BODIES["app_mention"])


def test_builders_keep_the_wire_shape_of_slacks_samples() -> None:
    """Each builder has every key of the matching sample payload (Enterprise Grid keys aside)."""
    grid = {"enterprise_id", "enterprise_name"}
    mention = json.loads((PAYLOADS / "events_api_app_mention.json").read_text())
    built = BODIES["app_mention"].json()
    assert set(mention) - grid <= set(built) and set(mention["event"]) <= set(built["event"])
    assert built["event"]["thread_ts"] == "1700000000.000100"
    slash = dict(parse_qsl((PAYLOADS / "slash_command.form-urlencoded.txt").read_text().strip()))
    assert set(slash) - grid <= set(BODIES["slash_command"].json())
    click = json.loads((PAYLOADS / "block_actions_button.json").read_text())
    built = BODIES["block_actions"].json()
    assert set(click) <= set(built) and set(click["actions"][0]) <= set(built["actions"][0])
    assert set(click["container"]) <= set(built["container"])
    verify = json.loads((PAYLOADS / "events_api_url_verification.json").read_text())
    assert set(verify) == set(BODIES["url_verification"].json())


async def test_bolt_app_accepts_signed_requests_and_answers_through_the_fake(fake_slack: FakeSlack) -> None:
    """A real Bolt AsyncApp over HTTP verifies the signatures and responds to the fake's response_url."""
    client = AsyncWebClient(token=TOKEN, base_url=fake_slack.api_url)
    app = AsyncApp(client=client, signing_secret=SECRET)

    @app.command("/sre")
    async def _sre(ack, respond, command) -> None:
        await ack()
        await respond(f"you said {command['text']}")

    runner = web.AppRunner(app.web_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    try:
        body = signing.slash_command(text="status checkout", response_url=fake_slack.response_url("cmd"))
        bad = await signing.post_signed(url, "/slack/events", body, signing.signed_headers(SECRET, body, stale=True))
        good = await signing.post_signed(url, "/slack/events", body, signing.signed_headers(SECRET, body))
        [reply] = await fake_slack.wait_for("response_url")
    finally:
        await runner.cleanup()
    assert (bad.status_code, good.status_code) == (401, 200)
    assert reply.args["text"] == "you said status checkout"
