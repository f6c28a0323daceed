"""The README's asgi.py: HTTP through the chatwatch middleware, WebSockets to consumers."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djproject.settings")

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from chatwatch.integrations.asgi import ChatwatchMiddleware  # noqa: E402
from chatwatch.integrations.django import get_client  # noqa: E402
from djproject.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": ChatwatchMiddleware(django_asgi_app, client=get_client, paths=("/chat/api/",)),
        "websocket": AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
    }
)
