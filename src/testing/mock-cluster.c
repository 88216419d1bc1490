/*
 * A librdkafka mock Kafka cluster driven over stdin/stdout, for tests and the demo.
 *
 *   mock-cluster [BROKERS]
 *
 * Prints the bootstrap list as the first line, then answers each command line on stdin with
 * `ok` or `err <message>`:
 *
 *   topic NAME PARTITIONS REPLICATION      create a topic (the mock has no CreateTopics API)
 *   down BROKERID | up BROKERID            refuse / accept connections (-1 = all brokers)
 *   rtt BROKERID MS                        add round-trip delay
 *   errors APIKEY ERRCODE [ERRCODE...]     fail the next requests of APIKEY with these codes
 *   clear APIKEY                           drop pending injected errors of APIKEY
 *   leader TOPIC PARTITION BROKERID        move a partition's leader (-1 = leaderless)
 *   coordinator group|transaction KEY BROKERID
 *   quit                                   (or stdin EOF) destroy the cluster and exit 0
 *
 * stdin EOF means the parent went away, so the cluster never outlives it; PR_SET_PDEATHSIG
 * covers the case where the pipe is somehow kept open.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#define MAX_ARGS 64

static int parse_int (const char *s, long min, long max, long *out) {
        char *end;
        long v;
        if (!s)
                return -1;
        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || *end || end == s || v < min || v > max)
                return -1;
        *out = v;
        return 0;
}

static void reply (rd_kafka_resp_err_t err) {
        if (err)
                printf("err %s\n", rd_kafka_err2str(err));
        else
                printf("ok\n");
        fflush(stdout);
}

static void reply_usage (const char *usage) {
        printf("err usage: %s\n", usage);
        fflush(stdout);
}

int main (int argc, char **argv) {
        char errstr[512];
        char line[4096];
        long brokers = 1;
        rd_kafka_conf_t *conf;
        rd_kafka_t *rk;
        rd_kafka_mock_cluster_t *mcluster;
        const char *debug;

#ifdef __linux__
        prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif

        if (argc > 1 && parse_int(argv[1], 1, 32, &brokers) == -1) {
                fprintf(stderr, "mock-cluster: invalid broker count: %s\n", argv[1]);
                return 2;
        }

        /* The mock cluster needs an rd_kafka_t for its bookkeeping; a bare producer will do.
         * Only errors are logged (it warns about having no bootstrap.servers otherwise), unless
         * MOCK_CLUSTER_DEBUG names librdkafka debug contexts, e.g. MOCK_CLUSTER_DEBUG=mock. */
        conf = rd_kafka_conf_new();
        debug = getenv("MOCK_CLUSTER_DEBUG");
        if (rd_kafka_conf_set(conf, "log_level", debug && *debug ? "7" : "3", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK ||
            (debug && *debug && rd_kafka_conf_set(conf, "debug", debug, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)) {
                fprintf(stderr, "mock-cluster: %s\n", errstr);
                return 1;
        }
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!rk) {
                fprintf(stderr, "mock-cluster: rd_kafka_new: %s\n", errstr);
                return 1;
        }
        mcluster = rd_kafka_mock_cluster_new(rk, (int)brokers);
        if (!mcluster) {
                fprintf(stderr, "mock-cluster: rd_kafka_mock_cluster_new failed\n");
                rd_kafka_destroy(rk);
                return 1;
        }

        printf("%s\n", rd_kafka_mock_cluster_bootstraps(mcluster));
        fflush(stdout);

        while (fgets(line, sizeof(line), stdin)) {
                char *argv2[MAX_ARGS];
                int n = 0;
                char *tok, *save = NULL;
                long a, b, c;

                for (tok = strtok_r(line, " \t\r\n", &save); tok && n < MAX_ARGS;
                     tok = strtok_r(NULL, " \t\r\n", &save))
                        argv2[n++] = tok;
                if (n == 0) {
                        reply_usage("empty command");
                        continue;
                }

                if (!strcmp(argv2[0], "quit")) {
                        break;

                } else if (!strcmp(argv2[0], "topic")) {
                        if (n != 4 || parse_int(argv2[2], 1, 100000, &a) || parse_int(argv2[3], 1, 32, &b)) {
                                reply_usage("topic NAME PARTITIONS REPLICATION");
                                continue;
                        }
                        reply(rd_kafka_mock_topic_create(mcluster, argv2[1], (int)a, (int)b));

                } else if (!strcmp(argv2[0], "down") || !strcmp(argv2[0], "up")) {
                        if (n != 2 || parse_int(argv2[1], -1, INT32_MAX, &a)) {
                                reply_usage("down|up BROKERID");
                                continue;
                        }
                        reply(argv2[0][0] == 'd' ? rd_kafka_mock_broker_set_down(mcluster, (int32_t)a)
                                                 : rd_kafka_mock_broker_set_up(mcluster, (int32_t)a));

                } else if (!strcmp(argv2[0], "rtt")) {
                        if (n != 3 || parse_int(argv2[1], -1, INT32_MAX, &a) || parse_int(argv2[2], 0, 3600000, &b)) {
                                reply_usage("rtt BROKERID MS");
                                continue;
                        }
                        reply(rd_kafka_mock_broker_set_rtt(mcluster, (int32_t)a, (int)b));

                } else if (!strcmp(argv2[0], "errors")) {
                        rd_kafka_resp_err_t errs[MAX_ARGS];
                        int i, bad = n < 3 || parse_int(argv2[1], 0, INT16_MAX, &a);
                        for (i = 2; !bad && i < n; i++) {
                                bad = parse_int(argv2[i], -200, 10000, &b);
                                errs[i - 2] = (rd_kafka_resp_err_t)b;
                        }
                        if (bad) {
                                reply_usage("errors APIKEY ERRCODE [ERRCODE...]");
                                continue;
                        }
                        rd_kafka_mock_push_request_errors_array(mcluster, (int16_t)a, (size_t)(n - 2), errs);
                        reply(RD_KAFKA_RESP_ERR_NO_ERROR);

                } else if (!strcmp(argv2[0], "clear")) {
                        if (n != 2 || parse_int(argv2[1], 0, INT16_MAX, &a)) {
                                reply_usage("clear APIKEY");
                                continue;
                        }
                        rd_kafka_mock_clear_request_errors(mcluster, (int16_t)a);
                        reply(RD_KAFKA_RESP_ERR_NO_ERROR);

                } else if (!strcmp(argv2[0], "leader")) {
                        if (n != 4 || parse_int(argv2[2], 0, INT32_MAX, &a) || parse_int(argv2[3], -1, INT32_MAX, &b)) {
                                reply_usage("leader TOPIC PARTITION BROKERID");
                                continue;
                        }
                        reply(rd_kafka_mock_partition_set_leader(mcluster, argv2[1], (int32_t)a, (int32_t)b));

                } else if (!strcmp(argv2[0], "coordinator")) {
                        if (n != 4 || (strcmp(argv2[1], "group") && strcmp(argv2[1], "transaction")) ||
                            parse_int(argv2[3], -1, INT32_MAX, &c)) {
                                reply_usage("coordinator group|transaction KEY BROKERID");
                                continue;
                        }
                        reply(rd_kafka_mock_coordinator_set(mcluster, argv2[1], argv2[2], (int32_t)c));

                } else {
                        printf("err unknown command: %s\n", argv2[0]);
                        fflush(stdout);
                }
        }

        rd_kafka_mock_cluster_destroy(mcluster);
        rd_kafka_destroy(rk);
        return 0;
}
