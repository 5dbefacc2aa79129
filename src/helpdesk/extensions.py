"""Flask extensions, created unbound here and bound to an app in create_app."""

from typing import TYPE_CHECKING, ClassVar

from flask_babel import Babel
from flask_bcrypt import Bcrypt
from flask_caching import Cache
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_socketio import SocketIO
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData, Table
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with constraint names that Alembic can alter on every database."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)

if TYPE_CHECKING:  # a type checker cannot see a class made at run time, as db.Model is

    class Model(Base):
        """What db.Model is to a type checker: a declarative class mapped to one table."""

        __abstract__ = True
        __table__: ClassVar[Table]

else:
    Model = db.Model

login_manager = LoginManager()
csrf = CSRFProtect()
bcrypt = Bcrypt()
limiter = Limiter(key_func=get_remote_address)
babel = Babel()
socketio = SocketIO()
cache = Cache()  # the application's one cache; core/cache.py binds it
