#!/bin/bash
# Kafka for compose, production profile: SASL_SSL with SCRAM-SHA-512 on the one client
# listener (kafka:9092), the controller on the container's loopback only, ACLs enforced.
# The SCRAM credential of every principal is stored when the storage is first formatted;
# rotating one later takes `kafka-configs.sh --alter --entity-type users`.
set -euo pipefail
PRINCIPALS="admin worker api sia importer sink notify desk"
props=/tmp/heterdaad-kafka.properties
admin_config=/tmp/admin.properties
umask 077
for principal in $PRINCIPALS; do
  variable="HETERDAAD_KAFKA_PASSWORD_${principal^^}"
  value="${!variable:-}"
  if [ "${#value}" -lt 16 ]; then
    echo "kafka: set $variable to a random secret of 16+ characters" >&2
    exit 1
  fi
done
cat > "$props" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:9093
listeners=SASL_SSL://:9092,CONTROLLER://127.0.0.1:9093
advertised.listeners=SASL_SSL://kafka:9092
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_SSL
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${HETERDAAD_KAFKA_PASSWORD_ADMIN}";
ssl.keystore.type=PEM
ssl.keystore.location=/etc/kafka/tls/broker-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=/etc/kafka/tls/ca.pem
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin;User:ANONYMOUS
allow.everyone.if.no.acl.found=false
auto.create.topics.enable=false
log.dirs=/var/lib/kafka/data
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS
cat > "$admin_config" <<CONFIG
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${HETERDAAD_KAFKA_PASSWORD_ADMIN}";
ssl.truststore.type=PEM
ssl.truststore.location=/etc/kafka/tls/ca.pem
CONFIG
if [ ! -f /var/lib/kafka/data/meta.properties ]; then
  scram=()
  for principal in $PRINCIPALS; do
    variable="HETERDAAD_KAFKA_PASSWORD_${principal^^}"
    scram+=(--add-scram "SCRAM-SHA-512=[name=${principal},password=${!variable}]")
  done
  /opt/kafka/bin/kafka-storage.sh format --ignore-formatted -c "$props" \
    --cluster-id "$(/opt/kafka/bin/kafka-storage.sh random-uuid)" "${scram[@]}"
fi
exec /opt/kafka/bin/kafka-server-start.sh "$props"
