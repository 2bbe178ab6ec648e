# Sourced by the interop scripts that run nginx: unprivileged, in the
# foreground, on loopback ports, with everything it writes in one
# scratch directory.

# nginx_conf DIR HTTP: writes DIR/nginx.conf for `nginx -c DIR/nginx.conf
# -p DIR` (ended by its PID): no daemon, one worker, the error log, PID
# file and temporary files under DIR (DIR/logs is made), no access log,
# octet-stream by default; HTTP is the rest of the http { } block (its
# servers, and any setting of theirs).
nginx_conf() {
    mkdir -p "$1/logs"
    cat >"$1/nginx.conf" <<CONF
daemon off;
master_process on;
worker_processes 1;
error_log $1/logs/error.log info;
pid $1/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $1/cbt;
  proxy_temp_path $1/pt;
  fastcgi_temp_path $1/ft;
  uwsgi_temp_path $1/ut;
  scgi_temp_path $1/st;
  default_type application/octet-stream;
$2
}
CONF
}
