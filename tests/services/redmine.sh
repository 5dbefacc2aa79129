#!/usr/bin/env bash
# A real Redmine 5 (Debian's package) for the tests, on the MariaDB server at 127.0.0.1:3306.
#
#   redmine.sh start NAME PORT   install the packages if missing, give instance NAME a database
#                                (restored from a cached template, built once from Redmine's own
#                                migrations), serve it with thin on 127.0.0.1:PORT; prints
#                                "URL API_KEY DATABASE_URL" on one line, and nothing else
#   redmine.sh serve NAME PORT   start the server of an existing instance again (after stop)
#   redmine.sh stop NAME         stop the server (the instance and its database stay)
#   redmine.sh drop NAME         stop, drop the database and remove the instance's files
#   redmine.sh install           only install the Debian packages (what .ci/run calls)
#
# Several instances may run at once (one per test session), each on its own port. Progress goes
# to stderr; the cache of templates lives in $HELPDESK_REDMINE_STATE.
set -euo pipefail

COMMAND=${1:-}
NAME=${2:-}
PORT=${3:-}
STATE=${HELPDESK_REDMINE_STATE:-/var/tmp/helpdesk-redmine}
REDMINE=/usr/share/redmine
PACKAGES=(redmine redmine-sqlite ruby-mysql2 thin)
MARIADB=(mysql --host=127.0.0.1 --port=3306 --user=root --batch --skip-column-names)
# Redmine writes its DATETIME columns in the Ruby process's local time: make that UTC, so the
# helpdesk's REDMINE_TIMEZONE default (UTC) is true for the servers the tests start.
export TZ=UTC RAILS_ENV=production

say() { echo "redmine.sh: $*" >&2; }
fail() { say "$*"; exit 1; }

installed() {
  local package
  for package in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || return 1
  done
}

install_packages() {
  installed && return 0
  [ "$(id -u)" = 0 ] || fail "installing Redmine needs root (apt-get)"
  say "installing ${PACKAGES[*]} from Debian's packages"
  # The package's own instance must be configured without questions: SQLite is the one database
  # type its installer sets up unattended; the tests' instances use MariaDB beside it.
  echo "redmine redmine/instances/default/database-type select sqlite3" | debconf-set-selections
  apt-cache policy redmine | grep -q 'Candidate: [0-9]' || apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=600 "${PACKAGES[@]}" >"$STATE/apt.log" 2>&1 \
    || fail "apt-get install failed: $(tail -n 5 "$STATE/apt.log")"
}

instance_files() {
  local folder=/etc/redmine/$INSTANCE
  "$REDMINE/bin/redmine-instances" create "$INSTANCE" >/dev/null
  cat >"$folder/database.yml" <<EOF
production:
  adapter: mysql2
  database: $DATABASE
  host: 127.0.0.1
  port: 3306
  username: root
  password: ""
  encoding: utf8mb4
EOF
  # Rails answers every request with a 500 without a secret key.
  [ -s "$folder/secret_key.txt" ] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$folder/secret_key.txt"
  # Debian's Gemfile loads the database gems named by the instances' database.yml files; the
  # lock file must list mysql2 once a MariaDB instance exists.
  if ! grep -q '^    mysql2 ' /var/lib/redmine/Gemfile.lock 2>/dev/null; then
    (cd "$REDMINE" && rm -f /var/lib/redmine/Gemfile.lock && bundle install --local --quiet) >&2 \
      || fail "bundle install --local failed"
  fi
}

rails() { (cd "$REDMINE" && REDMINE_INSTANCE="$INSTANCE" "$@"); }

template_path() {
  echo "$STATE/template-$(dpkg-query -W -f='${Version}' redmine)-$(ls "$REDMINE"/db/migrate | wc -l).sql"
}

# A template database: Redmine's migrations, its default data in English, the REST API on and an
# admin who need not change the password. Built once per Redmine version, then restored.
build_template() {
  local template=$1 log=$STATE/$INSTANCE.build.log output
  say "building a template database (once per Redmine version)"
  rails env SCHEMA=/dev/null bin/rake db:migrate >"$log" 2>&1 || fail "db:migrate failed, see $log"
  # In the same rake run as db:migrate this fails quietly; on its own it says so when it works.
  output=$(rails env REDMINE_LANG=en bin/rake redmine:load_default_data 2>&1) || true
  grep -q "Default configuration data loaded" <<<"$output" || fail "default data not loaded: $output"
  rails bin/rails runner 'Setting.rest_api_enabled = "1"
    admin = User.find_by_login("admin"); admin.update!(must_change_passwd: false); admin.api_key' \
    >>"$log" 2>&1 || fail "enabling the REST API failed, see $log"
  mysqldump --host=127.0.0.1 --port=3306 --user=root --single-transaction --skip-comments \
    "$DATABASE" >"$template.partial" && mv "$template.partial" "$template"
}

database() {
  local template
  template=$(template_path)
  "${MARIADB[@]}" -e "DROP DATABASE IF EXISTS \`$DATABASE\`;
    CREATE DATABASE \`$DATABASE\` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci" \
    || fail "MariaDB does not answer at 127.0.0.1:3306 as root"
  [ -s "$template" ] || build_template "$template"
  "${MARIADB[@]}" "$DATABASE" <"$template" || fail "restoring the template failed"
}

pid_of_server() {
  local pid
  pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

serve() {
  local answer="" started=$SECONDS
  pid_of_server >/dev/null && fail "instance $NAME already serves"
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && fail "port $PORT is taken"
  rm -f "$PIDFILE"
  (cd "$REDMINE" && REDMINE_INSTANCE="$INSTANCE" exec setsid bin/rails server -u thin \
    -b 127.0.0.1 -p "$PORT" -e production -P "$PIDFILE") >"$STATE/$INSTANCE.log" 2>&1 </dev/null &
  while [ $((SECONDS - started)) -lt 90 ]; do
    answer=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$PORT/login" || true)
    [ "$answer" = 200 ] && return 0
    [ "$answer" = 500 ] && break
    sleep 0.2
  done
  tail -n 20 "$STATE/$INSTANCE.log" >&2
  fail "Redmine did not answer on port $PORT (last answer: ${answer:-none})"
}

stop() {
  local pid
  pid=$(pid_of_server) || return 0
  kill -TERM "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

admin_key() {
  "${MARIADB[@]}" -e "SELECT tokens.value FROM \`$DATABASE\`.tokens JOIN \`$DATABASE\`.users
    ON users.id = tokens.user_id WHERE users.login = 'admin' AND tokens.action = 'api' LIMIT 1"
}

mkdir -p "$STATE"
case "$COMMAND" in
  install) install_packages; exit 0 ;;
  start | serve | stop | drop) ;;
  *) fail "usage: redmine.sh {start NAME PORT|serve NAME PORT|stop NAME|drop NAME|install}" ;;
esac
[[ $NAME =~ ^[a-z0-9_]+$ ]] || fail "NAME must be lower-case letters, digits and underscores"
INSTANCE=helpdesk_$NAME
DATABASE=redmine_helpdesk_$NAME
PIDFILE=$STATE/$INSTANCE.pid

case "$COMMAND" in
  start)
    [[ $PORT =~ ^[0-9]+$ ]] || fail "PORT must be a number"
    # One session at a time installs, edits the shared Gemfile.lock and builds the template.
    exec 8>"$STATE/setup.lock"
    flock 8
    install_packages
    instance_files
    database
    flock -u 8
    serve
    echo "http://127.0.0.1:$PORT $(admin_key) mysql+pymysql://root@127.0.0.1:3306/$DATABASE"
    ;;
  serve)
    [[ $PORT =~ ^[0-9]+$ ]] || fail "PORT must be a number"
    serve
    ;;
  stop) stop ;;
  drop)
    stop
    "${MARIADB[@]}" -e "DROP DATABASE IF EXISTS \`$DATABASE\`" || true
    rm -rf "/etc/redmine/$INSTANCE" "/var/lib/redmine/$INSTANCE" "/var/log/redmine/$INSTANCE" \
      "/var/cache/redmine/$INSTANCE" "$PIDFILE" "$STATE/$INSTANCE".*
    ;;
esac
