/* kvcheck: a second, independent load tool for the P0 protocol, to check
 * kvbench's figures (benchmarks/crosscheck.py compiles and runs it).
 *
 * Usage: kvcheck PORT CONNECTIONS SECONDS WARMUP_SECONDS
 *
 * Nothing is shared with kvbench: C, not Python; one blocking thread per
 * connection, not event loops in worker processes. Each connection repeats
 * kvbench's "pgd" iteration: it writes "Put:kN:vI\nGet:kN\nDelete:kN\n" in
 * one write and reads the one reply line, which must be exactly "kN:vI\n".
 * Iterations finished during the measured window are counted; requests/s is
 * three request lines per iteration. Output: one line of JSON.
 * A connection that never got a reply before the run ended is "never served".
 * Exit status: 0, or 1 if any reply was wrong, any connection failed, or
 * any was never served.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum outcome { FAILED, CONNECTED, SERVED };  /* per connection, its own */

static int port;
static atomic_int measuring;         /* 1 while the window is open */
static atomic_int stopping;          /* 1 once the run is over */
static atomic_long iterations;       /* finished inside the window */
static enum outcome *outcomes;       /* one per connection, read after join */

static void *connection(void *arg) {
    long id = (long)arg;
    outcomes[id] = FAILED;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        if (fd >= 0) close(fd);
        return NULL;
    }
    outcomes[id] = CONNECTED;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval patience = {.tv_sec = 10}; /* a server that never answers */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
    char request[128], want[64], got[64];
    for (long i = 0; !atomic_load(&stopping); i++) {
        int n = snprintf(request, sizeof request,
                         "Put:k%ld:v%ld\nGet:k%ld\nDelete:k%ld\n", id, i, id, id);
        int w = snprintf(want, sizeof want, "k%ld:v%ld\n", id, i);
        if (write(fd, request, n) != n) break;
        int have = 0;
        while (have < w) { /* the reply is exactly one line of w bytes */
            ssize_t r = read(fd, got + have, (size_t)(w - have));
            if (r <= 0) { /* closed, reset, or silent for 10 s */
                if (!atomic_load(&stopping)) outcomes[id] = FAILED;
                goto done;
            }
            have += (int)r;
        }
        if (memcmp(got, want, (size_t)w) != 0) {
            outcomes[id] = FAILED;
            break;
        }
        if (atomic_load(&stopping)) break; /* a reply after the run ended */
        outcomes[id] = SERVED;
        if (atomic_load(&measuring)) atomic_fetch_add(&iterations, 1);
    }
done:
    close(fd);
    return NULL;
}

static void nap(double seconds) {
    struct timespec t = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
    nanosleep(&t, NULL);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: kvcheck PORT CONNECTIONS SECONDS WARMUP_SECONDS\n");
        return 2;
    }
    port = atoi(argv[1]);
    long connections = atol(argv[2]);
    double seconds = atof(argv[3]), warmup = atof(argv[4]);
    if (port <= 0 || connections <= 0 || connections > 10000 || seconds <= 0) {
        fprintf(stderr, "kvcheck: bad arguments\n");
        return 2;
    }
    pthread_t *threads = calloc((size_t)connections, sizeof *threads);
    outcomes = calloc((size_t)connections, sizeof *outcomes);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    long started = 0;
    for (; started < connections; started++)
        if (pthread_create(&threads[started], &attr, connection, (void *)started) != 0)
            break;
    nap(warmup);
    atomic_store(&measuring, 1);
    double opened = now();
    nap(seconds);
    atomic_store(&measuring, 0);
    double measured = now() - opened;
    atomic_store(&stopping, 1);
    for (long i = 0; i < started; i++) pthread_join(threads[i], NULL);
    long bad = connections - started, never = 0; /* threads that did not start */
    for (long i = 0; i < started; i++) {
        bad += outcomes[i] == FAILED;
        never += outcomes[i] == CONNECTED;
    }
    long done = atomic_load(&iterations);
    printf("{\"tool\": \"kvcheck\", \"connections\": %ld, \"measured_s\": %.3f, "
           "\"iterations\": %ld, \"requests_per_s\": %.0f, \"errors\": %ld, "
           "\"never_served\": %ld}\n",
           connections, measured, done, 3.0 * done / measured, bad, never);
    free(threads);
    free(outcomes);
    return bad || never ? 1 : 0;
}
