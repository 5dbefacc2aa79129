"""Announcement pages: the home feed, and create, edit, delete for the author or an admin."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from werkzeug.wrappers import Response

from helpdesk.core.decorators import permission_required
from helpdesk.core.images import ImageRejected, delete_image
from helpdesk.core.urls import page_number
from helpdesk.extensions import db
from helpdesk.posts import service
from helpdesk.posts.forms import PostForm
from helpdesk.posts.models import Post
from helpdesk.users.snapshot import signed_in_row

bp = Blueprint("posts", __name__)


def editable_post(post_id: int) -> Post:
    """The post, if the current user may change it: 404 if unknown, 403 if someone else's."""
    post = db.get_or_404(Post, post_id)
    if not post.can_edit(current_user):
        abort(403)
    return post


@bp.get("/")
@login_required
def home() -> str:
    """Announcements, newest first, a page at a time."""
    page = page_number()
    posts = db.paginate(
        select(Post)
        .options(joinedload(Post.author))
        .order_by(Post.date_posted.desc(), Post.id.desc()),
        page=page,
        per_page=current_app.config["POSTS_PER_PAGE"],
        error_out=False,
    )
    return render_template("posts/home.html", posts=posts)


@bp.get("/posts/<int:post_id>")
@login_required
def post(post_id: int) -> str:
    """One announcement."""
    return render_template("posts/post.html", post=db.get_or_404(Post, post_id))


@bp.route("/posts/new", methods=["GET", "POST"])
@permission_required("can_post_announcements")
def new_post() -> Response | str | tuple[str, int]:
    """Write an announcement (admins and users with can_post_announcements)."""
    form = PostForm()
    if request.method == "POST":
        if not form.validate():
            return render_template("posts/form.html", form=form, post=None), 422
        try:
            created = service.create_post(
                signed_in_row(current_user), form.title.data, form.content.data, form.picture.data
            )
        except ImageRejected as error:
            db.session.rollback()
            form.picture.errors = [str(error)]
            return render_template("posts/form.html", form=form, post=None), 400
        db.session.commit()
        flash(_("The announcement has been published."), "success")
        return redirect(url_for("posts.post", post_id=created.id))
    return render_template("posts/form.html", form=form, post=None)


@bp.route("/posts/<int:post_id>/edit", methods=["GET", "POST"])
@login_required
def edit_post(post_id: int) -> Response | str | tuple[str, int]:
    """Change an announcement (author or admin)."""
    post = editable_post(post_id)
    form = PostForm(obj=post)
    if request.method == "POST":
        if not form.validate():
            return render_template("posts/form.html", form=form, post=post), 422
        try:
            replaced = service.update_post(
                post,
                form.title.data,
                form.content.data,
                form.picture.data,
                bool(form.remove_picture.data),
            )
        except ImageRejected as error:
            db.session.rollback()
            form.picture.errors = [str(error)]
            return render_template("posts/form.html", form=form, post=post), 400
        db.session.commit()
        delete_image("posts", replaced)
        flash(_("The announcement has been updated."), "success")
        return redirect(url_for("posts.post", post_id=post.id))
    return render_template("posts/form.html", form=form, post=post)


@bp.post("/posts/<int:post_id>/delete")
@login_required
def remove_post(post_id: int) -> Response:
    """Delete an announcement (author or admin)."""
    image = service.delete_post(editable_post(post_id))
    db.session.commit()
    delete_image("posts", image)
    flash(_("The announcement has been deleted."), "info")
    return redirect(url_for("posts.home"))
