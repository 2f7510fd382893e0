#!/usr/bin/env bash
# A single-node Kafka (KRaft: broker and controller in one JVM) on 127.0.0.1, for tests and development.
#
#   kafka.sh start          install jars if needed, format storage once, start, wait until healthy
#   kafka.sh stop           SIGTERM, wait, SIGKILL after KAFKA_STOP_TIMEOUT (default 60 s); keeps the data
#   kafka.sh start-broker   start again with the existing data (for tests that stop the broker mid-load)
#   kafka.sh stop-broker    graceful stop, keeping the data
#   kafka.sh kill-broker    SIGKILL now (a crash), keeping the data
#   kafka.sh health         exit 0 when a Metadata request succeeds (prints the probe's JSON)
#   kafka.sh status         one line: running/stopped, pid, health
#   kafka.sh install        fetch the broker jars into .services/kafka/libs (cached)
#   kafka.sh topics ARGS    org.apache.kafka.tools.TopicCommand (e.g. topics --list) against $KAFKA_BROKERS
#                           when set, else this broker
#   kafka.sh reset          stop and delete the data (the jars stay)
#
# Environment: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), KAFKA_VERSION (from pom.xml),
# KAFKA_HEAP_OPTS (-Xms128m -Xmx512m), KAFKA_START_TIMEOUT (90 s), KAFKA_LIBS (jar dir), and
# SERVICES_DIR (state dir): with other ports and SERVICES_DIR, a second, private broker runs beside
# the shared one (test/helpers/services.ts startPrivateKafka does this for disruptive tests).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_POM="$SERVICES_SCRIPTS/kafka/pom.xml"
KAFKA_VERSION="${KAFKA_VERSION:-$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_POM")}"
KAFKA_DIR="$SERVICES_DIR/kafka"
KAFKA_LIBS="${KAFKA_LIBS:-$KAFKA_DIR/libs}" # shareable: a second broker (other SERVICES_DIR) can reuse the jars
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_CONFIG="$KAFKA_DIR/server.properties"
KAFKA_LOG4J="$KAFKA_DIR/log4j2.properties"
KAFKA_LOG="$KAFKA_DIR/kafka.log"
KAFKA_PIDFILE="$KAFKA_DIR/kafka.pid"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-60}"

kafka_install() {
  if [[ -f "$KAFKA_LIBS/.complete" && "$(cat "$KAFKA_LIBS/.complete")" == "$KAFKA_VERSION" ]]; then
    return 0
  fi
  svc_apt_install java default-jre-headless
  svc_apt_install mvn maven
  local t0 tmp
  t0=$(svc_now_ms)
  tmp="$KAFKA_DIR/libs.tmp"
  rm -rf "$tmp"
  mkdir -p "$KAFKA_DIR"
  svc_log "kafka: fetching kafka_2.13 $KAFKA_VERSION and its runtime dependencies (Maven Central)"
  if ! mvn -q -B -f "$KAFKA_POM" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" >"$KAFKA_DIR/mvn.log" 2>&1; then
    svc_tail_log "$KAFKA_DIR/mvn.log"
    svc_die "kafka: fetching the broker jars failed"
  fi
  echo "$KAFKA_VERSION" >"$tmp/.complete"
  rm -rf "$KAFKA_LIBS"
  mv "$tmp" "$KAFKA_LIBS"
  svc_log "kafka: jars ready in $(svc_elapsed "$t0") ($(du -sh "$KAFKA_LIBS" | cut -f1) in $KAFKA_LIBS)"
}

kafka_write_config() {
  mkdir -p "$KAFKA_DIR"
  cat >"$KAFKA_CONFIG" <<EOF
# Written by scripts/services/kafka.sh on every start: edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_DATA
num.partitions=3
# Our telemetry sink creates its topics; an auto-created topic would hide a bug there.
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=5
# One node: 50 partitions for the internal topics only slow the first consumer group down.
offsets.topic.num.partitions=5
transaction.state.log.num.partitions=5
group.initial.rebalance.delay.ms=0
# After a crash (kill-broker) the old registration must expire before the broker can re-register:
# 9 s by default, 4.5 s here. Heartbeats every second keep a busy 2-core machine from fencing it.
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=4500
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.hours=24
log.segment.bytes=67108864
EOF
  cat >"$KAFKA_LOG4J" <<'EOF'
# Written by scripts/services/kafka.sh. Broker output goes to stdout, which kafka.sh sends to kafka.log.
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = out
logger.request.name = kafka.request.logger
logger.request.level = warn
logger.state.name = state.change.logger
logger.state.level = warn
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = warn
EOF
}

kafka_format() {
  if [[ -f "$KAFKA_DATA/meta.properties" ]]; then
    local formatted
    formatted="$(cat "$KAFKA_DIR/formatted-ports" 2>/dev/null || true)"
    if [[ -n "$formatted" && "$formatted" != "$KAFKA_PORT $KAFKA_CONTROLLER_PORT" ]]; then
      svc_die "kafka: the data in $KAFKA_DATA was formatted for ports '$formatted', not '$KAFKA_PORT $KAFKA_CONTROLLER_PORT'; run 'scripts/services/kafka.sh reset' to start over"
    fi
    return 0
  fi
  local t0 cluster_id
  t0=$(svc_now_ms)
  # A random 16-byte id, base64url without padding: the format StorageTool's random-uuid prints.
  # Like Kafka's own Uuid.randomUuid, never one starting with '-': the CLI would take it for a flag.
  cluster_id=-
  while [[ "$cluster_id" == -* ]]; do
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
  done
  mkdir -p "$KAFKA_DATA"
  if ! java -cp "$KAFKA_LIBS/*" -Dlog4j2.configurationFile="$KAFKA_LOG4J" kafka.tools.StorageTool format \
    --standalone --cluster-id "$cluster_id" --config "$KAFKA_CONFIG" >"$KAFKA_DIR/format.log" 2>&1; then
    svc_tail_log "$KAFKA_DIR/format.log"
    rm -rf "$KAFKA_DATA"
    svc_die "kafka: formatting the storage failed"
  fi
  echo "$KAFKA_PORT $KAFKA_CONTROLLER_PORT" >"$KAFKA_DIR/formatted-ports"
  svc_log "kafka: storage formatted (cluster $cluster_id) in $(svc_elapsed "$t0")"
}

# The pid in the pid file, if that process is still our broker (pids get reused).
kafka_pid() {
  local pid
  pid="$(svc_read_pid "$KAFKA_PIDFILE")"
  if svc_pid_alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $KAFKA_CONFIG"; then
    echo "$pid"
  fi
}

kafka_health() {
  node "$SERVICES_SCRIPTS/kafka-probe.mjs" "127.0.0.1:$KAFKA_PORT" --timeout "${1:-3000}"
}

kafka_start() {
  local t0 pid
  t0=$(svc_now_ms)
  svc_lock kafka
  pid="$(kafka_pid)"
  if [[ -n "$pid" ]]; then
    # server.properties is only rewritten when a broker starts, so it holds the running one's ports.
    svc_check_ports kafka "$KAFKA_DIR" "$(sed -n 's|^listeners=PLAINTEXT://[^:]*:\([0-9]*\),CONTROLLER://[^:]*:\([0-9]*\)$|\1 \2|p' "$KAFKA_CONFIG")" \
      "$KAFKA_PORT $KAFKA_CONTROLLER_PORT"
    if kafka_health 3000 >/dev/null 2>&1; then
      svc_log "kafka: already running (pid $pid) on 127.0.0.1:$KAFKA_PORT"
      return 0
    fi
    svc_log "kafka: pid $pid is up but not healthy yet; waiting"
  else
    if svc_port_open "$KAFKA_PORT"; then
      svc_die "kafka: 127.0.0.1:$KAFKA_PORT is taken by a process that is not ours (set KAFKA_PORT, or KAFKA_BROKERS to use it)"
    fi
    svc_port_open "$KAFKA_CONTROLLER_PORT" && svc_die "kafka: 127.0.0.1:$KAFKA_CONTROLLER_PORT (controller) is taken; set KAFKA_CONTROLLER_PORT"
    kafka_install
    kafka_write_config
    kafka_format
    [[ -f "$KAFKA_LOG" ]] && mv -f "$KAFKA_LOG" "$KAFKA_LOG.1"
    # shellcheck disable=SC2086 # KAFKA_HEAP_OPTS is a list of flags
    nohup java $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$KAFKA_LOG4J" -Dkafka.logs.dir="$KAFKA_DIR" \
      -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_CONFIG" >"$KAFKA_LOG" 2>&1 </dev/null 9>&- &
    pid=$!
    echo "$pid" >"$KAFKA_PIDFILE"
    svc_log "kafka: started pid $pid ($KAFKA_VERSION), waiting for 127.0.0.1:$KAFKA_PORT"
  fi
  local until=$(($(svc_now_ms) + KAFKA_START_TIMEOUT * 1000))
  until kafka_health 2000 >/dev/null 2>&1; do
    if ! svc_pid_alive "$pid"; then
      svc_tail_log "$KAFKA_LOG"
      svc_die "kafka: the broker exited during startup"
    fi
    if (($(svc_now_ms) > until)); then
      svc_tail_log "$KAFKA_LOG"
      svc_die "kafka: not healthy after ${KAFKA_START_TIMEOUT}s (pid $pid still running; see $KAFKA_LOG)"
    fi
    sleep 0.25
  done
  svc_log "kafka: healthy on 127.0.0.1:$KAFKA_PORT after $(svc_elapsed "$t0")"
}

kafka_stop() {
  local signal="${1:-TERM}" pid
  svc_lock kafka
  pid="$(kafka_pid)"
  if [[ -z "$pid" ]]; then
    rm -f "$KAFKA_PIDFILE"
    svc_log "kafka: not running"
    return 0
  fi
  local t0
  t0=$(svc_now_ms)
  if [[ "$signal" == KILL ]]; then
    kill -KILL "$pid" 2>/dev/null || true
    while svc_pid_alive "$pid"; do sleep 0.05; done
  else
    svc_stop_pid "$pid" "$KAFKA_STOP_TIMEOUT" kafka
  fi
  rm -f "$KAFKA_PIDFILE"
  svc_log "kafka: stopped (SIG$signal) pid $pid in $(svc_elapsed "$t0")"
}

kafka_status() {
  local pid health
  pid="$(kafka_pid)"
  if health="$(kafka_health 2000 2>/dev/null)"; then
    echo "kafka     healthy   127.0.0.1:$KAFKA_PORT pid=${pid:-external}"
  elif [[ -n "$pid" ]]; then
    echo "kafka     starting  127.0.0.1:$KAFKA_PORT pid=$pid ($health)"
    return 1
  else
    echo "kafka     stopped"
    return 1
  fi
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
  start | start-broker) kafka_start ;;
  stop | stop-broker) kafka_stop TERM ;;
  kill-broker) kafka_stop KILL ;;
  restart)
    kafka_stop TERM
    exec 9>&-
    kafka_start
    ;;
  health) kafka_health "${1:-3000}" ;;
  status) kafka_status ;;
  install)
    svc_lock kafka
    kafka_install
    ;;
  topics)
    (
      svc_lock kafka
      kafka_install
    )
    mkdir -p "$KAFKA_DIR"
    # Tools log warnings only, to stderr, so their stdout stays parseable.
    printf '%s\n' 'status = warn' 'appender.err.type = Console' 'appender.err.name = err' 'appender.err.target = SYSTEM_ERR' \
      'appender.err.layout.type = PatternLayout' 'appender.err.layout.pattern = %p %m%n' 'rootLogger.level = warn' \
      'rootLogger.appenderRef.err.ref = err' >"$KAFKA_DIR/tools-log4j2.properties"
    exec java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Dlog4j2.configurationFile="$KAFKA_DIR/tools-log4j2.properties" \
      -cp "$KAFKA_LIBS/*" org.apache.kafka.tools.TopicCommand --bootstrap-server "${KAFKA_BROKERS:-127.0.0.1:$KAFKA_PORT}" "$@"
    ;;
  env) echo "KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT" ;;
  reset)
    kafka_stop TERM
    rm -rf "$KAFKA_DATA" "$KAFKA_DIR/formatted-ports"
    svc_log "kafka: data deleted"
    ;;
  *)
    sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
