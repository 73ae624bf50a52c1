/*
 * Benchmark client for CONNECT setup rate and tunnel throughput.
 * Written in C so that the client's own cost stays small next to the proxy's.
 *
 * rate mode: <concurrency> connections in flight at all times, each one
 *   TCP connect -> [CONNECT host:port, wait for "200"] -> send 0x00 -> wait for its echo ->
 *   wait for EOF (the upstream closes after the echo) -> close, then a new one in its place.
 *   Runs <warmup> s unrecorded, then <duration> s recorded. Latency = from connect() to the
 *   echo, per connection started inside the recorded window; the rate counts connections
 *   finished (EOF) inside the window. A connection not finished in 10 s is an error.
 * bulk mode: <reps> times one connection: connect -> [CONNECT, 200] -> send 0x02 ->
 *   read <bytes> until EOF; time from sending 0x02 to the last byte.
 * The probe bytes are neither a TLS record nor the start of an HTTP method token, so a proxy
 * that sniffs a tunnel's first bytes (ours does, for SNI/Host checks) can classify them at once.
 *
 * usage:
 *   loadgen rate <dst_port> <connect_target|-> <concurrency> <warmup_s> <duration_s>
 *   loadgen bulk <dst_port> <connect_target|-> <bytes> <reps>
 * <dst_port> is on 127.0.0.1 (the proxy, or the upstream for the direct path);
 * <connect_target> is "host:port" sent in the CONNECT line, or "-" for a direct connection.
 * Prints one JSON object on stdout. Loopback only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char PROBE[] = "\x00";
static const char BULK[] = "\x02";

static struct sockaddr_in dst;
static char req[512];
static size_t req_len;
static int via_proxy;

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double p) {
  if (n == 0) return 0;
  size_t i = (size_t)(p * (double)(n - 1) + 0.5);
  if (i >= n) i = n - 1;
  return v[i];
}

/* ---------------------------------------------------------------- rate mode */

enum st { S_IDLE, S_CONNECTING, S_WAIT_200, S_WAIT_ECHO, S_WAIT_EOF };

#define CONN_TIMEOUT_S 10.0

struct slot {
  int fd;
  enum st st;
  double t0;
  char hdr[1024];
  size_t hlen;
};

static int ep;

static int start_conn(struct slot *s, int id) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  s->t0 = now_s();
  s->hlen = 0;
  int r = connect(fd, (struct sockaddr *)&dst, sizeof dst);
  if (r < 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  s->fd = fd;
  s->st = S_CONNECTING;
  struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN, .data.u32 = (uint32_t)id };
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  return 0;
}

static void end_conn(struct slot *s) {
  if (s->fd >= 0) {
    epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
    close(s->fd);
  }
  s->fd = -1;
  s->st = S_IDLE;
}

static int send_all_nb(int fd, const char *b, size_t n) {
  /* tiny writes into an empty socket buffer: they go out whole or the peer is broken */
  ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
  return w == (ssize_t)n ? 0 : -1;
}

static int run_rate(int conc, double warmup, double duration) {
  ep = epoll_create1(0);
  struct slot *slots = calloc((size_t)conc, sizeof *slots);
  size_t cap = 1 << 20, nlat = 0;
  double *lat = malloc(cap * sizeof *lat);
  int secs = (int)duration + 2;
  uint64_t *per_sec = calloc((size_t)secs, sizeof *per_sec);
  uint64_t errors = 0, done_in_window = 0, connect_fail = 0, bad_status = 0, timeouts = 0;
  char first_bad[128] = "";

  double t_start = now_s();
  double t_w = t_start + warmup, t_end = t_w + duration;
  for (int i = 0; i < conc; i++) {
    slots[i].fd = -1;
    if (start_conn(&slots[i], i) < 0) { errors++; connect_fail++; }
  }
  struct epoll_event evs[512];
  char buf[4096];
  int running = 1;
  while (running) {
    int n = epoll_wait(ep, evs, 512, 50);
    double t = now_s();
    if (t >= t_end) running = 0;
    for (int k = 0; k < n; k++) {
      int id = (int)evs[k].data.u32;
      struct slot *s = &slots[id];
      if (s->fd < 0) continue;
      int fail = 0;
      uint32_t e = evs[k].events;
      if (s->st == S_CONNECTING) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err != 0 || (e & (EPOLLERR | EPOLLHUP))) {
          fail = 1;
          connect_fail++;
        } else {
          struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)id };
          epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
          if (via_proxy) {
            if (send_all_nb(s->fd, req, req_len) < 0) fail = 1;
            else s->st = S_WAIT_200;
          } else {
            if (send_all_nb(s->fd, PROBE, 1) < 0) fail = 1;
            else s->st = S_WAIT_ECHO;
          }
        }
      } else if (s->st == S_WAIT_200) {
        ssize_t r = recv(s->fd, s->hdr + s->hlen, sizeof s->hdr - 1 - s->hlen, 0);
        if (r <= 0) {
          if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
          fail = 1;
        } else {
          s->hlen += (size_t)r;
          s->hdr[s->hlen] = 0;
          char *eoh = strstr(s->hdr, "\r\n\r\n");
          if (eoh) {
            if (strncmp(s->hdr, "HTTP/1.", 7) != 0 || strncmp(s->hdr + 9, "200", 3) != 0) {
              fail = 1;
              bad_status++;
              if (!first_bad[0]) {
                size_t m = strcspn(s->hdr, "\r\n");
                if (m > sizeof first_bad - 1) m = sizeof first_bad - 1;
                memcpy(first_bad, s->hdr, m);
                first_bad[m] = 0;
              }
            } else if (eoh + 4 != s->hdr + s->hlen) {
              fail = 1; /* bytes after the 200 before we sent anything */
            } else if (send_all_nb(s->fd, PROBE, 1) < 0) {
              fail = 1;
            } else {
              s->st = S_WAIT_ECHO;
            }
          } else if (s->hlen >= sizeof s->hdr - 1) {
            fail = 1;
          }
        }
      } else if (s->st == S_WAIT_ECHO) {
        ssize_t r = recv(s->fd, buf, sizeof buf, 0);
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (r == 1 && buf[0] == PROBE[0]) {
          double t1 = now_s();
          if (s->t0 >= t_w && t1 <= t_end) {
            if (nlat == cap) {
              cap *= 2;
              lat = realloc(lat, cap * sizeof *lat);
            }
            lat[nlat++] = t1 - s->t0;
          }
          s->st = S_WAIT_EOF;
          continue;
        }
        fail = 1;
      } else if (s->st == S_WAIT_EOF) {
        ssize_t r = recv(s->fd, buf, sizeof buf, 0);
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (r == 0) {
          double t1 = now_s();
          if (t1 >= t_w && t1 <= t_end) {
            done_in_window++;
            int sec = (int)(t1 - t_w);
            if (sec < secs) per_sec[sec]++;
          }
          end_conn(s);
          if (running && start_conn(s, id) < 0) { errors++; connect_fail++; }
          continue;
        }
        fail = 1; /* more bytes than the echo, or a reset */
      }
      if (fail) {
        if (t >= t_w && t <= t_end) errors++;
        end_conn(s);
        if (errors > 1000 && done_in_window == 0) {
          fprintf(stderr, "loadgen: too many errors (connect_fail=%llu bad_status=%llu first=\"%s\")\n",
                  (unsigned long long)connect_fail, (unsigned long long)bad_status, first_bad);
          return 1;
        }
        if (running && start_conn(s, id) < 0) { errors++; connect_fail++; }
      }
    }
    /* a slot whose connection could not even be created: retry it; a stuck one: give up on it */
    for (int i = 0; running && i < conc; i++) {
      if (slots[i].fd >= 0 && t - slots[i].t0 > CONN_TIMEOUT_S) {
        timeouts++;
        if (t >= t_w) errors++;
        end_conn(&slots[i]);
      }
      if (slots[i].fd < 0 && start_conn(&slots[i], i) < 0) { errors++; connect_fail++; }
    }
  }
  for (int i = 0; i < conc; i++) end_conn(&slots[i]);
  qsort(lat, nlat, sizeof *lat, cmp_double);
  double sum = 0;
  for (size_t i = 0; i < nlat; i++) sum += lat[i];
  int full = (int)duration;
  printf("{\"mode\":\"rate\",\"concurrency\":%d,\"warmup_s\":%g,\"duration_s\":%g,"
         "\"completed\":%llu,\"rate\":%.1f,\"errors\":%llu,\"connect_fail\":%llu,\"bad_status\":%llu,\"timeouts\":%llu,"
         "\"first_bad\":\"%s\",\"lat_samples\":%zu,"
         "\"p50_ms\":%.4f,\"p90_ms\":%.4f,\"p99_ms\":%.4f,\"p999_ms\":%.4f,\"max_ms\":%.4f,\"mean_ms\":%.4f,"
         "\"per_sec\":[",
         conc, warmup, duration, (unsigned long long)done_in_window, (double)done_in_window / duration,
         (unsigned long long)errors, (unsigned long long)connect_fail, (unsigned long long)bad_status,
         (unsigned long long)timeouts, first_bad, nlat, pct(lat, nlat, 0.50) * 1e3, pct(lat, nlat, 0.90) * 1e3,
         pct(lat, nlat, 0.99) * 1e3, pct(lat, nlat, 0.999) * 1e3, nlat ? lat[nlat - 1] * 1e3 : 0,
         nlat ? sum / (double)nlat * 1e3 : 0);
  for (int i = 0; i < full; i++) printf("%s%llu", i ? "," : "", (unsigned long long)per_sec[i]);
  printf("]}\n");
  return 0;
}

/* ---------------------------------------------------------------- bulk mode */

static int read_headers(int fd) {
  char h[1024];
  size_t n = 0;
  for (;;) {
    ssize_t r = recv(fd, h + n, sizeof h - 1 - n, 0);
    if (r <= 0) return -1;
    n += (size_t)r;
    h[n] = 0;
    char *eoh = strstr(h, "\r\n\r\n");
    if (eoh) {
      if (strncmp(h, "HTTP/1.", 7) != 0 || strncmp(h + 9, "200", 3) != 0) {
        fprintf(stderr, "loadgen: proxy answered: %.*s\n", (int)strcspn(h, "\r\n"), h);
        return -1;
      }
      return eoh + 4 == h + n ? 0 : -1;
    }
    if (n >= sizeof h - 1) return -1;
  }
}

static int run_bulk(uint64_t bytes, int reps) {
  static char buf[1 << 20];
  printf("{\"mode\":\"bulk\",\"bytes\":%llu,\"runs\":[", (unsigned long long)bytes);
  for (int i = 0; i < reps; i++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0) { perror("connect"); return 1; }
    if (via_proxy) {
      if (send(fd, req, req_len, MSG_NOSIGNAL) != (ssize_t)req_len || read_headers(fd) < 0) {
        fprintf(stderr, "loadgen: CONNECT failed\n");
        return 1;
      }
    }
    double t0 = now_s();
    if (send(fd, BULK, 1, MSG_NOSIGNAL) != 1) { perror("send"); return 1; }
    uint64_t got = 0;
    double t1 = t0;
    for (;;) {
      ssize_t r = recv(fd, buf, sizeof buf, 0);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      got += (uint64_t)r;
      t1 = now_s();
    }
    close(fd);
    if (got != bytes) {
      fprintf(stderr, "loadgen: received %llu of %llu bytes\n", (unsigned long long)got,
              (unsigned long long)bytes);
      return 1;
    }
    printf("%s{\"seconds\":%.6f,\"mb_s\":%.2f}", i ? "," : "", t1 - t0, (double)bytes / (t1 - t0) / 1e6);
    fflush(stdout);
  }
  printf("]}\n");
  return 0;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  if (argc < 6) {
    fprintf(stderr,
            "usage: loadgen rate <port> <target|-> <concurrency> <warmup_s> <duration_s>\n"
            "       loadgen bulk <port> <target|-> <bytes> <reps>\n");
    return 2;
  }
  dst.sin_family = AF_INET;
  dst.sin_port = htons((uint16_t)atoi(argv[2]));
  dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (strcmp(argv[3], "-") != 0) {
    via_proxy = 1;
    req_len = (size_t)snprintf(req, sizeof req, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", argv[3], argv[3]);
  }
  if (strcmp(argv[1], "rate") == 0 && argc >= 7)
    return run_rate(atoi(argv[4]), atof(argv[5]), atof(argv[6]));
  if (strcmp(argv[1], "bulk") == 0)
    return run_bulk(strtoull(argv[4], NULL, 10), atoi(argv[5]));
  fprintf(stderr, "loadgen: bad arguments\n");
  return 2;
}
