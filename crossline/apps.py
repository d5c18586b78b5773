from django.apps import AppConfig


class CrosslineConfig(AppConfig):
    name = "crossline"
    verbose_name = "crossline"

    def ready(self) -> None:
        from django.contrib import admin
        from django_q.signals import post_execute_in_worker, pre_execute

        from crossline.auth import ThrottledAdminAuthenticationForm
        from crossline.lifeline import dies_with_parent, pass_on_to_forks
        from crossline.taskqueue import start_task_heartbeat, stop_task_heartbeat

        pre_execute.connect(start_task_heartbeat, dispatch_uid="crossline-task-heartbeat")
        post_execute_in_worker.connect(stop_task_heartbeat, dispatch_uid="crossline-task-stop")
        admin.site.login_form = ThrottledAdminAuthenticationForm
        if dies_with_parent():
            # Started by `serve` (the web server, the django-q2 cluster): what it forks, the
            # cluster's sentinel and workers, dies with it too.
            pass_on_to_forks()
