"""Tasks: My Tasks, the task page, the Kanban board and the task API."""

from flask import Flask


def register_tasks(app: Flask) -> None:
    """Bind the configured task backend and add the task pages and API."""
    from helpdesk.tasks import filter_views, search
    from helpdesk.tasks.api import bp as api_bp
    from helpdesk.tasks.attachment_views import api as files_api_bp
    from helpdesk.tasks.attachment_views import bp as files_bp
    from helpdesk.tasks.backends import init_backend
    from helpdesk.tasks.edit_api import bp as edit_api_bp
    from helpdesk.tasks.files import human_size, register_files
    from helpdesk.tasks.labels import label
    from helpdesk.tasks.views import bp as pages_bp

    register_files(app)
    init_backend(app)
    app.add_template_filter(label)
    app.add_template_filter(human_size, "files_size")
    app.register_blueprint(pages_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(files_bp)
    app.register_blueprint(files_api_bp)
    app.register_blueprint(edit_api_bp)

    app.register_blueprint(filter_views.api_bp)
    app.register_blueprint(filter_views.pages_bp)
    search.index_with_create_all()
