from django.apps import AppConfig


class CrosslineConfig(AppConfig):
    name = "crossline"
    verbose_name = "crossline"

    def ready(self) -> None:
        from django.contrib import admin
        from django_q.signals import post_execute_in_worker, pre_execute

        from crossline.auth import ThrottledAdminAuthenticationForm
        from crossline.taskqueue import start_task_heartbeat, stop_task_heartbeat

        pre_execute.connect(start_task_heartbeat, dispatch_uid="crossline-task-heartbeat")
        post_execute_in_worker.connect(stop_task_heartbeat, dispatch_uid="crossline-task-stop")
        admin.site.login_form = ThrottledAdminAuthenticationForm
