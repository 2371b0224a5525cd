from typing import Any

from rest_framework import serializers

from apps.accounts.models import Membership, Role, TokenScope


class TokenRequestSerializer(serializers.Serializer[Any]):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, trim_whitespace=False)
    name = serializers.CharField(max_length=100, required=False, default="api")
    scope = serializers.ChoiceField(choices=TokenScope.choices, default=TokenScope.WRITE)


class TokenResponseSerializer(serializers.Serializer[Any]):
    token = serializers.CharField()
    scope = serializers.CharField()
    name = serializers.CharField()


class MembershipSerializer(serializers.ModelSerializer[Membership]):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "username", "role", "created_at"]


class MembershipCreateSerializer(serializers.Serializer[Any]):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Role.choices)
