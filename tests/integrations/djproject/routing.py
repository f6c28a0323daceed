from __future__ import annotations

from django.urls import path

from djproject.consumers import ChatConsumer

websocket_urlpatterns = [path("ws/chat/<str:session_id>/", ChatConsumer.as_asgi())]
