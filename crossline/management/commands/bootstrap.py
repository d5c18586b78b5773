"""`manage.py bootstrap`: make a fresh installation usable (admin user, demo data)."""

import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Create the admin user if missing (password from CROSSLINE_ADMIN_PASSWORD or printed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", type=str, default="admin", help="Admin user name.")

    def handle(self, *args, username: str, **options) -> None:
        User = get_user_model()
        if User.objects.filter(username=username).exists():
            self.stdout.write(f"Admin user {username!r} exists.")
            return
        password = os.environ.get("CROSSLINE_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        note = settings.VAR_DIR / "admin-password.txt"
        if "CROSSLINE_ADMIN_PASSWORD" not in os.environ:
            note.write_text(f"{username}\n{password}\n")
            note.chmod(0o600)
        self.stdout.write(self.style.SUCCESS(f"Admin user {username!r}, password: {password}"))
