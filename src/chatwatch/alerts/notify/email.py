"""E-mail over SMTP: STARTTLS, implicit TLS or plain; user and password from the
environment (``CHATWATCH_SMTP_USER`` / ``CHATWATCH_SMTP_PASSWORD``), never logged."""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from chatwatch.alerts.notify.format import dashboard_url, one_line, subject, templates
from chatwatch.config import Settings
from chatwatch.logsafe import clean

__all__ = [
    "EmailError",
    "alert_message",
    "alert_messages",
    "email_configured",
    "plaintext_auth_refused",
    "send_message",
]

log = logging.getLogger("chatwatch.alerts")


class EmailError(RuntimeError):
    """A delivery failure, with a message that carries no secret."""


def email_configured(settings: Settings) -> bool:
    return bool(settings.smtp_host and settings.alert_emails)


def alert_message(group: dict[str, Any], settings: Settings) -> EmailMessage:
    """One message per notification group: plain text and HTML alternatives."""
    env = templates("chatwatch.alerts")
    context = {
        "group": group,
        "alerts": group["alerts"],
        "dashboard": dashboard_url(settings.base_url),
        "service_name": settings.service_name,
    }
    message = new_message(settings, subject(group))
    message.set_content(env.get_template("alert_email.txt.j2").render(context))
    message.add_alternative(env.get_template("alert_email.html.j2").render(context), subtype="html")
    return message


def alert_messages(group: dict[str, Any], settings: Settings) -> list[EmailMessage]:
    """The group's message; when it cannot be written (a label no e-mail can hold), one
    message per alert, so one bad label does not stop the other alerts' mail."""
    try:
        return [alert_message(group, settings)]
    except ValueError:  # UnicodeEncodeError included
        pass
    messages = []
    for index, alert in enumerate(group["alerts"]):
        try:
            messages.append(alert_message({**group, "alerts": [alert]}, settings))
        except ValueError as exc:
            log.error(
                "alert %d of rule %s cannot be written as e-mail (%s); the others are sent",
                index,
                clean(group["rule"], 128),
                type(exc).__name__,
            )
    return messages


def new_message(settings: Settings, title: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = one_line(title)  # no CR/LF from a label can reach a header
    message["From"] = settings.alert_email_from
    message["To"] = ", ".join(settings.alert_emails)
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain="chatwatch")
    return message


def send_message(settings: Settings, message: EmailMessage) -> None:
    """Send through the configured SMTP server; raises EmailError without secrets."""
    if not settings.smtp_host:
        raise EmailError("no SMTP server configured (CHATWATCH_SMTP_HOST)")
    if not settings.alert_emails:
        raise EmailError("no recipients configured (CHATWATCH_ALERT_EMAILS)")
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    if plaintext_auth_refused(settings):
        raise EmailError(
            f"SMTP {settings.smtp_host}:{settings.smtp_port}: refusing to send the SMTP "
            "password without TLS (CHATWATCH_SMTP_SECURITY=none); use starttls or tls, or "
            "set CHATWATCH_SMTP_ALLOW_PLAINTEXT_AUTH=true"
        )
    try:
        with _connect(settings) as smtp:
            if settings.smtp_user and password is not None:
                smtp.login(settings.smtp_user, password)
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        text = f"{type(exc).__name__}: {exc}"
        if password:
            text = text.replace(password, "***")
        raise EmailError(
            f"SMTP {settings.smtp_host}:{settings.smtp_port} ({settings.smtp_security}): {text}"
        ) from None


def plaintext_auth_refused(settings: Settings) -> bool:
    """Credentials would cross the network in clear text and nobody allowed it."""
    return (
        settings.smtp_security == "none"
        and bool(settings.smtp_user)
        and settings.smtp_password is not None
        and not settings.smtp_allow_plaintext_auth
    )


def _connect(settings: Settings) -> smtplib.SMTP:
    host, port, timeout = settings.smtp_host or "", settings.smtp_port, settings.smtp_timeout_s
    if settings.smtp_security == "tls":
        return smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
    smtp = smtplib.SMTP(host, port, timeout=timeout)
    if settings.smtp_security == "starttls":
        try:
            smtp.starttls(context=ssl.create_default_context())
        except BaseException:
            smtp.close()
            raise
    return smtp
