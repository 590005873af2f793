"""Settings: one typed object built from the environment at start-up and passed down.

Nothing else reads os.environ, so a test builds a Settings by hand and every setting has one place
where its default and its validation live. Secrets are kept out of repr so they never reach a log.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping, Optional
from urllib.parse import urlparse

from bot.errors import BadInput

VENDORS = ("zendesk", "freshdesk", "intercom")


@dataclass(frozen=True)
class ZendeskSettings:
    subdomain: str
    email: str
    api_token: str = field(repr=False)
    webhook_secret: str = field(repr=False, default="")
    url: str = ""  # base URL; defaults to https://{subdomain}.zendesk.com
    bot_user_id: Optional[str] = None
    plan_field: Optional[str] = None  # user/organization field holding the plan
    vip_tag: str = "vip"
    page_url_field: Optional[str] = None  # ticket custom field id holding the page URL

    @property
    def base_url(self) -> str:
        return (self.url or f"https://{self.subdomain}.zendesk.com").rstrip("/")


@dataclass(frozen=True)
class FreshdeskSettings:
    domain: str
    api_key: str = field(repr=False)
    webhook_token: str = field(repr=False, default="")
    url: str = ""

    @property
    def base_url(self) -> str:
        return (self.url or f"https://{self.domain}").rstrip("/")


@dataclass(frozen=True)
class IntercomSettings:
    access_token: str = field(repr=False)
    client_secret: str = field(repr=False)
    admin_id: str = ""
    url: str = ""

    @property
    def base_url(self) -> str:
        return (self.url or "https://api.intercom.io").rstrip("/")


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///bot.db"
    redis_url: str = "redis://127.0.0.1:6379/0"
    model_dir: Optional[str] = None
    intents_path: Optional[str] = None
    articles_path: Optional[str] = None
    history_path: Optional[str] = None  # BOT_HISTORY: where the nightly sync writes and retraining reads
    reports_dir: str = "reports"  # BOT_REPORTS_DIR: where the weekly launch report is written
    mode_override: Optional[str] = None
    rollout_override: Optional[int] = None
    dashboard_password: Optional[str] = field(default=None, repr=False)
    zendesk: Optional[ZendeskSettings] = None
    freshdesk: Optional[FreshdeskSettings] = None
    intercom: Optional[IntercomSettings] = None

    def vendor_enabled(self, vendor: str) -> bool:
        return getattr(self, vendor, None) is not None


def _url(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if value:
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise BadInput(f"{name}: not an http(s) URL: {value!r}")
    return value


def _need(env: Mapping[str, str], names: tuple[str, ...], vendor: str) -> bool:
    """A vendor is on when any of its required settings is set; then all of them must be."""
    present = [n for n in names if env.get(n, "").strip()]
    if not present:
        return False
    missing = [n for n in names if n not in present]
    if missing:
        raise BadInput(f"{missing[0]}: required when {vendor} is enabled ({present[0]} is set)")
    return True


def load_settings(env: Optional[Mapping[str, str]] = None) -> Settings:
    env = os.environ if env is None else env
    mode = env.get("BOT_MODE", "").strip() or None
    if mode is not None and mode not in ("shadow", "draft", "auto"):
        raise BadInput(f"BOT_MODE: must be shadow, draft or auto, not {mode!r}")
    rollout = env.get("BOT_ROLLOUT_PERCENT", "").strip() or None
    rollout_value: Optional[int] = None
    if rollout is not None:
        try:
            rollout_value = int(rollout)
        except ValueError:
            raise BadInput(f"BOT_ROLLOUT_PERCENT: not a whole number: {rollout!r}") from None
        if not 0 <= rollout_value <= 100:
            raise BadInput(f"BOT_ROLLOUT_PERCENT: must be 0..100, not {rollout_value}")

    zendesk = None
    # The webhook secret is not needed to be "on": `bot install zendesk` is what fetches it. The web service
    # refuses to start without it (require_webhook_secrets), so an unsigned endpoint is never served.
    if _need(env, ("ZENDESK_SUBDOMAIN", "ZENDESK_EMAIL", "ZENDESK_API_TOKEN"), "zendesk"):
        zendesk = ZendeskSettings(
            subdomain=env["ZENDESK_SUBDOMAIN"].strip(),
            email=env["ZENDESK_EMAIL"].strip(),
            api_token=env["ZENDESK_API_TOKEN"].strip(),
            webhook_secret=env.get("ZENDESK_WEBHOOK_SECRET", "").strip(),
            url=_url(env, "ZENDESK_URL"),
            bot_user_id=env.get("ZENDESK_BOT_USER_ID", "").strip() or None,
            plan_field=env.get("ZENDESK_PLAN_FIELD", "").strip() or None,
            vip_tag=env.get("ZENDESK_VIP_TAG", "vip").strip() or "vip",
            page_url_field=env.get("ZENDESK_PAGE_URL_FIELD", "").strip() or None,
        )
    freshdesk = None
    if _need(env, ("FRESHDESK_DOMAIN", "FRESHDESK_API_KEY", "FRESHDESK_WEBHOOK_TOKEN"), "freshdesk"):
        freshdesk = FreshdeskSettings(
            domain=env["FRESHDESK_DOMAIN"].strip(),
            api_key=env["FRESHDESK_API_KEY"].strip(),
            webhook_token=env["FRESHDESK_WEBHOOK_TOKEN"].strip(),
            url=_url(env, "FRESHDESK_URL"),
        )
    intercom = None
    if _need(env, ("INTERCOM_ACCESS_TOKEN", "INTERCOM_CLIENT_SECRET"), "intercom"):
        intercom = IntercomSettings(
            access_token=env["INTERCOM_ACCESS_TOKEN"].strip(),
            client_secret=env["INTERCOM_CLIENT_SECRET"].strip(),
            admin_id=env.get("INTERCOM_ADMIN_ID", "").strip(),
            url=_url(env, "INTERCOM_URL"),
        )
    return Settings(
        database_url=env.get("BOT_DATABASE_URL", "").strip() or "sqlite:///bot.db",
        redis_url=env.get("REDIS_URL", "").strip() or "redis://127.0.0.1:6379/0",
        model_dir=env.get("BOT_MODEL", "").strip() or None,
        intents_path=env.get("BOT_INTENTS", "").strip() or None,
        articles_path=env.get("BOT_ARTICLES", "").strip() or None,
        history_path=env.get("BOT_HISTORY", "").strip() or None,
        reports_dir=env.get("BOT_REPORTS_DIR", "").strip() or "reports",
        mode_override=mode,
        rollout_override=rollout_value,
        dashboard_password=env.get("BOT_DASHBOARD_PASSWORD") or None,
        zendesk=zendesk,
        freshdesk=freshdesk,
        intercom=intercom,
    )


def require_webhook_secrets(settings: Settings) -> None:
    """Start-up check of the web service: an enabled vendor must be able to prove its deliveries."""
    if settings.zendesk is not None and not settings.zendesk.webhook_secret:
        raise BadInput("ZENDESK_WEBHOOK_SECRET: required to serve Zendesk webhooks (`bot install zendesk` prints "
                       "where it stored it)")
    if settings.freshdesk is not None and not settings.freshdesk.webhook_token:
        raise BadInput("FRESHDESK_WEBHOOK_TOKEN: required to serve Freshdesk webhooks")
