/*
 * Benchmark upstream: one TCP port on 127.0.0.1, single-threaded epoll.
 *
 * The first byte a client sends picks the mode of the connection:
 *   0x02      bulk: the server sends <bulk_bytes> bytes, then closes.
 *   anything  probe: the bytes of that first read are written back, then the server closes.
 *
 * The server closes first on purpose: TIME_WAIT then stays with the accepting sides (this
 * server, and the proxy's client-facing socket), and the load generator's and the proxies'
 * connecting sockets never run out of ephemeral ports at 10^4 connections/s on loopback,
 * whatever path ran before.
 * (The load generator's probe bytes, 0x00 and 0x02, are neither a TLS record nor the start of
 * an HTTP method, so a proxy that sniffs a tunnel's first bytes classifies them at once.)
 *
 * It is written in C so that the upstream costs the same, and as little as
 * possible, for the direct path, Squid and the sidecar.
 *
 * usage: upstream <port> <bulk_bytes>     prints "ready <port>" once listening.
 * Loopback only.
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
#include <unistd.h>

#define MAX_FD 65536
#define CHUNK (1 << 20)
#define BULK_BYTE 0x02

enum mode { M_NEW = 0, M_ECHO = 1, M_BULK = 2 };

struct conn {
  uint8_t mode;
  uint64_t left;
};

static struct conn conns[MAX_FD];
static char rbuf[65536];
static char *bulkbuf;
static uint64_t bulk_bytes;
static int ep;

static void drop(int fd) {
  epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
  close(fd);
  conns[fd].mode = M_NEW;
  conns[fd].left = 0;
}

static void pump_bulk(int fd) {
  struct conn *c = &conns[fd];
  while (c->left > 0) {
    size_t n = c->left < CHUNK ? (size_t)c->left : CHUNK;
    ssize_t w = send(fd, bulkbuf, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR) continue;
      drop(fd);
      return;
    }
    c->left -= (uint64_t)w;
  }
  drop(fd);
}

static void on_readable(int fd) {
  for (;;) {
    ssize_t r = recv(fd, rbuf, sizeof rbuf, 0);
    if (r == 0) { drop(fd); return; }
    if (r < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR) continue;
      drop(fd);
      return;
    }
    struct conn *c = &conns[fd];
    if (c->mode == M_NEW) {
      if (rbuf[0] == BULK_BYTE) {
        c->mode = M_BULK;
        c->left = bulk_bytes;
        struct epoll_event ev = { .events = EPOLLOUT, .data.fd = fd };
        epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
        pump_bulk(fd);
        return;
      }
      c->mode = M_ECHO;
    }
    if (c->mode == M_ECHO) {
      ssize_t off = 0;
      while (off < r) {
        ssize_t w = send(fd, rbuf + off, (size_t)(r - off), MSG_NOSIGNAL);
        if (w < 0) {
          if (errno == EINTR) continue;
          break; /* probe payloads are tiny; a full send buffer is a broken peer */
        }
        off += w;
      }
      drop(fd);
      return;
    }
  }
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: upstream <port> <bulk_bytes>\n");
    return 2;
  }
  int port = atoi(argv[1]);
  bulk_bytes = strtoull(argv[2], NULL, 10);
  signal(SIGPIPE, SIG_IGN);
  bulkbuf = malloc(CHUNK);
  if (!bulkbuf) return 1;
  for (int i = 0; i < CHUNK; i++) bulkbuf[i] = (char)('a' + i % 26);

  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("bind"); return 1; }
  if (listen(ls, 4096) < 0) { perror("listen"); return 1; }

  ep = epoll_create1(0);
  struct epoll_event lev = { .events = EPOLLIN, .data.fd = ls };
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &lev);
  printf("ready %d\n", port);
  fflush(stdout);

  struct epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == ls) {
        for (;;) {
          int c = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
          if (c < 0) break;
          if (c >= MAX_FD) { close(c); continue; }
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          conns[c].mode = M_NEW;
          conns[c].left = 0;
          struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.fd = c };
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
        }
        continue;
      }
      if (conns[fd].mode == M_BULK) {
        if (evs[i].events & (EPOLLERR | EPOLLHUP)) { drop(fd); continue; }
        pump_bulk(fd);
        continue;
      }
      on_readable(fd);
    }
  }
}
