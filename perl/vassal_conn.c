/*
 * vassal_conn.c - connections: the lists a waiting connection is on, the request clocks
 * (header-timeout, body-timeout), reads into its buffer, error responses and
 * closing - at once or lingering (RFC 9112 9.6) - and the small helpers
 * (logging, waiting, sending) the other files use.
 */
#define PERL_NO_GET_CONTEXT
#include "EXTERN.h"
#include "perl.h"
#include "XSUB.h"

#include <errno.h>
#include <string.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <poll.h>
#include <fcntl.h>
#include <unistd.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include "vassal_worker_int.h"

double
vassal_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
vbuf_reserve(vbuf *b, size_t more)
{
    if (b->len + more > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + more) cap *= 2;
        Renew(b->p, cap, char);
        b->cap = cap;
    }
}

void
vbuf_add(vbuf *b, const char *s, size_t n)
{
    vbuf_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

void
vbuf_addnum(vbuf *b, UV n)
{
    char tmp[32];
    char *p = tmp + sizeof(tmp);
    do {
        *--p = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    vbuf_add(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* One log line on STDERR, "[name pid N] message", written with one write(). */
void
vlog(const char *fmt, ...)
{
    char buf[4096];
    int n = snprintf(buf, sizeof(buf), "[%s pid %d] ", worker.name[0] ? worker.name : "psgi-vassal", (int)getpid());
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(buf) - 2) n = (int)sizeof(buf) - 2;
    buf[n++] = '\n';
    if (write(2, buf, (size_t)n) < 0) { /* nowhere left to complain */ }
}

/* Logs a Perl error (possibly several lines), each line prefixed. */
void
vlog_sv(pTHX_ const char *what, SV *err)
{
    STRLEN len;
    const char *p = SvPV(err, len);
    const char *end = p + len;
    int first = 1;
    while (len && (end[-1] == '\n')) { end--; len--; }
    while (p < end || first) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        if (first) vlog("%s: %.*s", what, (int)(e - p), p);
        else       vlog("%.*s", (int)(e - p), p);
        first = 0;
        if (!nl) break;
        p = nl + 1;
    }
}

/* Waits until fd is ready for events, at most timeout seconds; a signal
 * does not shorten the wait. 1 ready, 0 timeout, -1 error. */
int
wait_fd(int fd, short events, double timeout)
{
    double deadline = vassal_monotonic() + timeout;
    for (;;) {
        struct pollfd p;
        double left = deadline - vassal_monotonic();
        int rc;
        if (left <= 0) return 0;
        p.fd = fd;
        p.events = events;
        p.revents = 0;
        rc = poll(&p, 1, (int)(left * 1000.0) + 1);
        if (rc > 0) return 1;
        if (rc == 0) continue;
        if (errno == EINTR) continue;
        return -1;
    }
}

/* Reads at most max bytes without waiting; *got: how many with READ_SOME. */
read_result
read_now(int fd, char *dst, size_t max, size_t *got)
{
    for (;;) {
        ssize_t n = read(fd, dst, max);
        if (n > 0) { *got = (size_t)n; return READ_SOME; }
        if (n == 0) return READ_EOF;
        if (errno == EINTR) continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? READ_NOTHING_YET : READ_ERROR;
    }
}

/* Sends everything; 0, or -1 with errno (ETIMEDOUT when the client stopped
 * reading). flags: MSG_MORE when the connection is closed right after, so
 * that the FIN close() adds leaves in the same segment as the data. */
int
sendv_all_flags(int fd, struct iovec *iov, int cnt, double timeout, int flags)
{
    while (cnt > 0) {
        struct msghdr m;
        ssize_t n;
        memset(&m, 0, sizeof(m));
        m.msg_iov = iov;
        m.msg_iovlen = (size_t)(cnt > 64 ? 64 : cnt);
        n = sendmsg(fd, &m, MSG_NOSIGNAL | flags);
        if (n < 0) {
            int w;
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
            w = wait_fd(fd, POLLOUT, timeout);
            if (w == 0) { errno = ETIMEDOUT; return -1; }
            if (w < 0) return -1;
            continue;
        }
        while (cnt > 0 && (size_t)n >= iov->iov_len) {
            n -= (ssize_t)iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0 && n > 0) {
            iov->iov_base = (char *)iov->iov_base + n;
            iov->iov_len -= (size_t)n;
        }
    }
    return 0;
}

int
sendv_all(int fd, struct iovec *iov, int cnt, double timeout)
{
    return sendv_all_flags(fd, iov, cnt, timeout, 0);
}

int
send_all(int fd, const char *p, size_t len, double timeout)
{
    struct iovec iov;
    iov.iov_base = (void *)p;
    iov.iov_len = len;
    if (!len) return 0;
    return sendv_all(fd, &iov, 1, timeout);
}

void
list_remove(vconn *c)
{
    vlist *l;
    if (!c->list) return;
    l = &worker.lists[c->list];
    if (c->prev) c->prev->next = c->next; else l->head = c->next;
    if (c->next) c->next->prev = c->prev; else l->tail = c->prev;
    c->prev = c->next = NULL;
    c->list = LIST_NONE;
}

void
list_append(vconn *c, int which, double deadline)
{
    vlist *l = &worker.lists[which];
    c->list = which;
    c->deadline = deadline;
    c->prev = l->tail;
    c->next = NULL;
    if (l->tail) l->tail->next = c; else l->head = c;
    l->tail = c;
}

/* A request's clocks, the head's and then the body's: each started once,
 * never restarted by what arrives, so that a client sending its request a
 * byte (or an empty line) at a time cannot hold the connection longer than
 * header-timeout or body-timeout. Every clock of a kind runs for the same
 * time from when it starts: each of worker.clocks is in deadline order by
 * appending. */
void
clock_start(vconn *c, int which, double timeout, double now)
{
    vlist *l = &worker.clocks[which];
    if (c->clock) return;
    c->clock = which;
    c->clock_deadline = now + timeout;
    c->cprev = l->tail;
    c->cnext = NULL;
    if (l->tail) l->tail->cnext = c; else l->head = c;
    l->tail = c;
}

void
clock_stop(vconn *c)
{
    vlist *l = &worker.clocks[c->clock];
    if (!c->clock) return;
    if (c->cprev) c->cprev->cnext = c->cnext; else l->head = c->cnext;
    if (c->cnext) c->cnext->cprev = c->cprev; else l->tail = c->cprev;
    c->cprev = c->cnext = NULL;
    c->clock = CLOCK_NONE;
}

void
head_clock_start(vconn *c, double now)
{
    clock_start(c, CLOCK_HEAD, worker.header_timeout, now);
}

void
head_clock_stop(vconn *c)
{
    if (c->clock == CLOCK_HEAD) clock_stop(c);
    c->empty_lines = 0;
}

void
conn_close(vconn *c)
{
    if (c->closed) return;
    list_remove(c);
    clock_stop(c);
    body_discard(c);
    /* an fd the app dup()ed (psgix.io) would keep the epoll registration alive */
    if (c->registered) epoll_ctl(worker.epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->closed = 1;
    worker.nconns--;
    c->dead_next = worker.graveyard;
    worker.graveyard = c;
}

void
bury(void)
{
    while (worker.graveyard) {
        vconn *c = worker.graveyard;
        worker.graveyard = c->dead_next;
        if (worker.npool < POOL_MAX && c->cap == INITIAL_BUF) {
            c->dead_next = worker.pool;    /* buffer and all: no malloc for the next one */
            worker.pool = c;
            worker.npool++;
        }
        else {
            Safefree(c->buf);
            Safefree(c);
        }
    }
}

vconn *
conn_new(void)
{
    vconn *c = worker.pool;
    char *buf;
    if (c) {
        worker.pool = c->dead_next;
        worker.npool--;
        buf = c->buf;
    }
    else {
        Newx(c, 1, vconn);
        Newx(buf, INITIAL_BUF, char);
    }
    memset(c, 0, sizeof(*c));
    c->buf = buf;
    c->cap = INITIAL_BUF;
    return c;
}

/* Reads and drops what the client sent after the response, without
 * waiting. Returns 1 when that is over (EOF, an error, too much) and the
 * connection was closed, 0 when the client may still be sending. */
int
linger_drain(vconn *c)
{
    for (;;) {
        ssize_t n = read(c->fd, worker.scratch, SCRATCH_SIZE);
        if (n > 0) {
            c->lingered += (size_t)n;
            if (c->lingered < LINGER_BYTES) continue;
        }
        else if (n < 0 && errno == EINTR) continue;
        else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
        conn_close(c);
        return 1;
    }
}

/* Closes a connection the client may still be sending on (an error
 * response before the whole request was read, pipelined requests that will
 * not be served, a close the client did not ask for) in stages, as RFC 9112
 * 9.6 says: shut the write side (the FIN follows the response at once), read
 * and drop what still comes until the client's FIN, LINGER_SECONDS or
 * LINGER_BYTES, then close - so that the response is not destroyed by the
 * TCP reset that closing with unread data sends. The reading waits in the
 * epoll set (LIST_LINGER), not in the worker, unless the worker is about
 * to stop (a graceful stop keeps the loop running while requests are under
 * way, and worker_teardown gives the lingering ones the rest of their time). */
void
conn_close_lingering(vconn *c)
{
    double deadline;
    if (c->closed) return;
    list_remove(c);
    clock_stop(c);
    body_discard(c);
    shutdown(c->fd, SHUT_WR);
    c->len = 0;
    if (!worker.stop_reason) {
        if (linger_drain(c)) return;
        c->lingering = 1;
        conn_park(c, LIST_LINGER);
        return;
    }
    /* the worker stops after this: its epoll set goes with it */
    deadline = vassal_monotonic() + LINGER_SECONDS;
    while (!linger_drain(c)) {
        double left = deadline - vassal_monotonic();
        if (left <= 0 || wait_fd(c->fd, POLLIN, left) <= 0) {
            conn_close(c);
            return;
        }
    }
}

int
conn_park(vconn *c, int which)
{
    if (!c->registered) {
        struct epoll_event ev;
        memset(&ev, 0, sizeof(ev));
        ev.events = EPOLLIN;
        ev.data.ptr = c;
        if (epoll_ctl(worker.epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
            vlog("epoll_ctl(ADD) failed: %s", strerror(errno));
            conn_close(c);
            return -1;
        }
        c->registered = 1;
    }
    list_append(c, which, vassal_monotonic()
                + (which == LIST_IDLE ? worker.keepalive_timeout
                   : which == LIST_LINGER ? LINGER_SECONDS : worker.socket_timeout));
    return 0;
}

size_t
conn_limit(vconn *c)
{
    if (c->l->proto == VASSAL_PROTO_UWSGI)
        return worker.buffer_size + 4 < UWSGI_MAX_PACKET ? worker.buffer_size + 4 : UWSGI_MAX_PACKET;
    return worker.buffer_size;
}

/* Reads what the socket has into c->buf without waiting, growing the
 * buffer up to limit bytes (READ_BUFFER_FULL when it is there already). */
read_result
conn_read(vconn *c, size_t limit)
{
    size_t room, got = 0;
    read_result r;
    if (c->len >= limit) return READ_BUFFER_FULL;
    if (c->len == c->cap) {
        size_t cap = c->cap * 2;
        if (cap > limit) cap = limit;
        Renew(c->buf, cap, char);
        c->cap = cap;
    }
    room = (c->cap < limit ? c->cap : limit) - c->len;
    r = read_now(c->fd, c->buf + c->len, room, &got);
    if (r == READ_SOME) {
        c->len += got;
        c->more = got == room;      /* the read filled all the room: more may be waiting */
    }
    return r;
}

/* Drops the first *pos bytes of c->buf (a request that was served). */
void
conn_consume(vconn *c, size_t *pos)
{
    if (*pos >= c->len) c->len = 0;
    else if (*pos) {
        memmove(c->buf, c->buf + *pos, c->len - *pos);
        c->len -= *pos;
    }
    *pos = 0;
    c->scan = 0;
}

/* An error response (closing the connection) into buf; returns its length. */
static size_t
error_response(char *buf, size_t size, int status)
{
    const char *reason = vassal_status_reason(status);
    int blen = (int)strlen(reason) + 1;
    int n = snprintf(buf, size,
                     "HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Type: text/plain\r\n"
                     "Content-Length: %d\r\n\r\n%s\n", status, reason, blen, reason);
    return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

void
send_error(vconn *c, int status)
{
    char buf[512];
    send_all(c->fd, buf, error_response(buf, sizeof(buf), status), worker.socket_timeout);
}

/* An error response sent only if the socket takes it at once: for a
 * client too slow to wait for. */
void
send_error_now(vconn *c, int status)
{
    char buf[512];
    size_t n = error_response(buf, sizeof(buf), status);
    if (send(c->fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) { /* the client will see the close */ }
}

void
refuse(vconn *c, int status, const char *why)
{
    vlog("bad request: %s", why);
    send_error(c, status);
    conn_close_lingering(c);
}
