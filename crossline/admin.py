"""The users' admin, with actions to issue or revoke their REST API tokens."""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from crossline.services import issue_api_token, revoke_api_token

User = get_user_model()


class CrosslineUserAdmin(UserAdmin):
    actions = ["issue_api_tokens", "revoke_api_tokens"]

    @admin.action(
        description="Issue a new API token (the old one stops working)", permissions=["change"]
    )
    def issue_api_tokens(self, request: HttpRequest, queryset: QuerySet) -> None:
        for user in queryset:
            token = issue_api_token(user=user)
            # Shown once, here: the admin hands it to the user or the client system.
            self.message_user(request, f"API token for {user.get_username()}: {token.key}")

    @admin.action(description="Revoke API tokens", permissions=["change"])
    def revoke_api_tokens(self, request: HttpRequest, queryset: QuerySet) -> None:
        revoked = [user.get_username() for user in queryset if revoke_api_token(user=user)]
        if revoked:
            self.message_user(request, f"API tokens revoked: {', '.join(revoked)}.")
        else:
            self.message_user(request, "None of them had an API token.", messages.WARNING)


admin.site.unregister(User)
admin.site.register(User, CrosslineUserAdmin)
