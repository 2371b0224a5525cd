from django.apps import AppConfig


class IterationsConfig(AppConfig):
    name = "apps.iterations"
    label = "iterations"
    default_auto_field = "django.db.models.BigAutoField"
