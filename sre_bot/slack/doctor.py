"""`sre-bot doctor`'s Slack check: does the bot token work (auth.test), and which mode will `serve` use?"""

from __future__ import annotations

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ..services.health import Check
from ..settings import Settings

__all__ = ["check_slack"]


async def check_slack(settings: Settings) -> list[Check]:
    if settings.slack_bot_token is None:
        return [Check("slack", False, "SLACK_BOT_TOKEN not set — install the app (manifest.yml) and copy the "
                                      "Bot User OAuth Token (xoxb-…)", configured=False)]
    client = AsyncWebClient(token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url,
                            timeout=10)
    try:
        resp = await client.auth_test()
    except SlackApiError as e:
        return [Check("slack", False, f"auth.test failed: {e.response.get('error')} — the bot token is wrong or "
                                      "revoked; reinstall the app and copy the new xoxb- token")]
    except Exception as e:  # network errors: aiohttp raises several types
        return [Check("slack", False, f"cannot reach {settings.slack_api_url} ({type(e).__name__}: {e}) — "
                                      "check SLACK_API_URL and the network")]
    checks = [Check("slack", True, f"auth ok as {resp.get('user')} in {resp.get('team')}")]
    if settings.socket_mode:
        checks.append(Check("slack mode", True, "Socket Mode (SLACK_APP_TOKEN set): no public URL needed"))
    elif settings.slack_signing_secret is None:
        checks.append(Check("slack mode", False, "HTTP mode needs SLACK_SIGNING_SECRET (Basic Information page), "
                                                 "or set SLACK_APP_TOKEN for Socket Mode"))
    else:
        checks.append(Check("slack mode", True, f"HTTP mode: Slack must reach POST /slack/events on port "
                                                f"{settings.http_port}"))
    return checks
