#!/bin/sh
# Entrypoint of the paas-test/web images: says hello on stdout (the logs test looks for it),
# then serves /www on port 8080 in the foreground.
echo "paas-test web ${APP_VERSION:-?} starting"
if [ -n "$GREETING" ]; then echo "greeting: $GREETING"; fi
for f in /run/secrets/*; do
  [ -f "$f" ] && echo "secret file: ${f##*/}"
done
exec /bin/busybox httpd -f -p 8080 -h /www
