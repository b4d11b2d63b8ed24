/*
 * vassal_loop.c - a worker's hot path in C: accept, read, parse (HTTP/1.x
 * or the uwsgi protocol), build the PSGI env, call the app, write the
 * response. Only what is not the common case - delayed and streaming
 * responses, bodies that are file handles or objects - goes back to Perl
 * (Vassal::Worker::respond) through a Vassal::Conn object.
 *
 * Why C: a Perl loop spends most of a small request's time in select(),
 * method calls and building strings; here a keep-alive request costs one
 * epoll_wait, one read, one send and the app call.
 *
 * Connections that wait - for the rest of a request, or idle between
 * keep-alive requests - sit in the worker's epoll set beside the listening
 * sockets, so a slow or idle client never keeps the worker from serving
 * others. So do connections whose request body is still arriving: the app
 * is called once it is all there. The response is then written at once,
 * blocking, with socket-timeout bounding every wait for the client.
 *
 * This file is the event loop (accept, readiness, deadlines, the stop
 * signals); the phases of a request are in the files vassal_worker_int.h
 * lists.
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

struct worker worker;
volatile sig_atomic_t vassal_stop_signal = 0;

/* Serves what c->buf holds; parks the connection when it needs more. */
static void
conn_serve(pTHX_ vconn *c)
{
    if (c->l->proto == VASSAL_PROTO_UWSGI) uwsgi_serve(aTHX_ c);
    else http_serve(aTHX_ c);
}

static void
conn_ready(pTHX_ vconn *c)
{
    read_result r;
    int was = c->list;
    double deadline = c->deadline;
    if (c->closed) return;
    list_remove(c);
    if (c->lingering) {
        if (!linger_drain(c)) list_append(c, LIST_LINGER, deadline);
        return;
    }
    if (c->body) {
        if (body_advance(aTHX_ c)) {
            c->nreq++;
            conn_serve(aTHX_ c);
        }
        return;
    }
    r = conn_read(c, conn_limit(c));
    if (r == READ_SOME || r == READ_BUFFER_FULL) conn_serve(aTHX_ c);
    else if (r == READ_NOTHING_YET) list_append(c, was ? was : LIST_PARTIAL, deadline);
    else conn_close(c);
}

static int
evict_oldest(void)
{
    vconn *victim = worker.lists[LIST_LINGER].head ? worker.lists[LIST_LINGER].head
                  : worker.lists[LIST_IDLE].head ? worker.lists[LIST_IDLE].head : worker.lists[LIST_PARTIAL].head;
    if (!victim) return 0;
    conn_close(victim);
    return 1;
}

/* Accepts a connection and serves what came with it. Returns 1 when that
 * connection is already done (closed), so that the caller may take the next
 * one at once; 0 when it waits in the epoll set or nothing was accepted. */
static int
accept_one(pTHX_ vlistener *l)
{
    struct sockaddr_storage sa;
    socklen_t sl = sizeof(sa);
    vconn *c;
    read_result r;
    int fd = accept4(l->fd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR
            || errno == ECONNABORTED || errno == EPROTO)
            return 0;
        if ((errno == EMFILE || errno == ENFILE) && evict_oldest()) return 0;
        vlog("accept failed: %s", strerror(errno));
        usleep(10000);    /* the listening socket stays readable: do not spin */
        return 0;
    }
    if (worker.nconns >= worker.max_conns) evict_oldest();
    c = conn_new();
    c->kind = K_CONN;
    c->fd = fd;
    c->l = l;
    worker.nconns++;
    head_clock_start(c, vassal_monotonic());
    if (sa.ss_family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&sa;
        inet_ntop(AF_INET, &s4->sin_addr, c->addr, sizeof(c->addr));
        c->port = ntohs(s4->sin_port);
    }
    else if (sa.ss_family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, c->addr, sizeof(c->addr));
        c->port = ntohs(s6->sin6_port);
    }
    /* try at once: the request usually came with the connection */
    r = conn_read(c, conn_limit(c));
    if (r == READ_SOME) conn_serve(aTHX_ c);
    else if (r == READ_NOTHING_YET) conn_park(c, LIST_PARTIAL);
    else conn_close(c);
    return c->closed;
}

/* A listener is readable: take connections while each one is done at once
 * (Connection: close, the uwsgi protocol), saving an epoll_wait per
 * connection; stop at one that waits, or after ACCEPT_BATCH. */
static void
accept_some(pTHX_ vlistener *l)
{
    int n;
    for (n = 0; n < ACCEPT_BATCH && !worker.stop_reason && !vassal_stop_signal; n++)
        if (!accept_one(aTHX_ l)) break;
}

/* A request head that did not arrive within header-timeout: a 408 when
 * some of it came (sent if the socket takes it at once: the worker does not
 * wait for a client that is this slow), then the connection is closed. */
static void
head_timed_out(vconn *c)
{
    int some = c->len || c->empty_lines;
    head_clock_stop(c);
    if (!some) {
        conn_close(c);
        return;
    }
    vlog("bad request: the request head did not arrive within header-timeout (%g s)", worker.header_timeout);
    send_error_now(c, 408);
    conn_close_lingering(c);
}

/* A request body that did not arrive within body-timeout: 408 (sent if
 * the socket takes it at once), then the connection is closed. */
static void
body_timed_out(vconn *c)
{
    vlog("bad request: the request body did not arrive within body-timeout (%g s)", worker.body_timeout);
    clock_stop(c);
    send_error_now(c, 408);
    conn_close_lingering(c);
}

static void
expire(double now)
{
    int w;
    while (worker.clocks[CLOCK_HEAD].head && worker.clocks[CLOCK_HEAD].head->clock_deadline <= now)
        head_timed_out(worker.clocks[CLOCK_HEAD].head);
    while (worker.clocks[CLOCK_BODY].head && worker.clocks[CLOCK_BODY].head->clock_deadline <= now)
        body_timed_out(worker.clocks[CLOCK_BODY].head);
    for (w = LIST_PARTIAL; w <= LIST_LAST; w++)
        while (worker.lists[w].head && worker.lists[w].head->deadline <= now)
            conn_close(worker.lists[w].head);
}

static int
next_timeout_ms(void)
{
    double next = 0, now;
    int w;
    for (w = LIST_PARTIAL; w <= LIST_LAST; w++)
        if (worker.lists[w].head && (!next || worker.lists[w].head->deadline < next))
            next = worker.lists[w].head->deadline;
    for (w = CLOCK_HEAD; w <= CLOCK_BODY; w++)
        if (worker.clocks[w].head && (!next || worker.clocks[w].head->clock_deadline < next))
            next = worker.clocks[w].head->clock_deadline;
    if (!next) return -1;
    now = vassal_monotonic();
    if (next <= now) return 0;
    return (int)((next - now) * 1000.0) + 1;
}

/* The graceful stop (SIGQUIT or SIGHUP: a reload, a zero-downtime deploy,
 * the master's death), as nginx's graceful shutdown and uWSGI's graceful
 * reload do it: accept nothing more, close what has no request under way,
 * serve the requests that are (each answered with Connection: close, see
 * run_request), and go when none remain. The listeners only leave the epoll
 * set, never closed or shut down: the next generation serves the same
 * sockets (the Emperor holds them), and what waits in their backlog is its.
 * header-timeout, body-timeout and socket-timeout bound each request as
 * always; the whole is bounded by the master's graceful_timeout and the
 * Emperor's reload-mercy (then SIGKILL), or by an orphan's own timer. */
static void
drain_begin(void)
{
    int i;
    for (i = 0; i < worker.nls; i++)
        epoll_ctl(worker.epfd, EPOLL_CTL_DEL, worker.ls[i].fd, NULL);
    /* the signal is known: its self-pipe would only keep waking the loop */
    epoll_ctl(worker.epfd, EPOLL_CTL_DEL, worker.wake_r, NULL);
    worker.draining = 1;
}

/* Bytes the client sent that the loop has not read yet (their epoll event
 * is still to come): a request on its way, which closing the connection
 * now would lose - the client could not tell it from a failure. */
static int
bytes_waiting(int fd)
{
    char b;
    return recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

/* Closes the connections with no request under way; returns how many
 * have one. Under way: the head is complete and its body is arriving, or
 * some of the head has arrived. nginx closes the latter too; here it is
 * finished (within header-timeout), because a client that has begun a
 * request has committed it - a head split over segments (large cookies, a
 * proxy writing head and body apart) is as much on its way as a body, and
 * the client cannot tell such a close from a failure, nor whether to
 * retry. Idle keep-alive connections and ones on which no byte of a
 * request came (empty lines before a request line are no request) are
 * closed: their clients retry on a new connection, which the next
 * generation takes. Run on every turn of the loop while it drains. */
static int
drain_sweep(void)
{
    vconn *c, *next;
    int left = 0;
    for (c = worker.lists[LIST_IDLE].head; c; c = next) {
        next = c->next;
        if (bytes_waiting(c->fd)) left++;
        else conn_close(c);
    }
    for (c = worker.lists[LIST_PARTIAL].head; c; c = next) {
        next = c->next;
        if (c->body || c->len || bytes_waiting(c->fd)) left++;
        else conn_close(c);
    }
    return left;
}

/* Has the master gone? A worker is re-parented when it dies. */
static int
orphaned(void)
{
    return worker.master_pid > 0 && getppid() != worker.master_pid;
}

/* An orphaned worker finishes its request in flight, then goes: nobody
 * enforces harakiri or the graceful-stop timeout for it any more, so a
 * CLOCK_MONOTONIC timer sends SIGKILL after orphan_timeout seconds - a
 * signal the app cannot catch or re-arm, unlike alarm(). timer_settime and
 * getppid are async-signal-safe. */
static void
orphan_deadline(void)
{
    struct itimerspec its;
    if (worker.orphan_timer_state != 1 || !orphaned()) return;
    memset(&its, 0, sizeof(its));
    its.it_value.tv_sec = (time_t)worker.orphan_timeout;
    its.it_value.tv_nsec = (long)((worker.orphan_timeout - (double)its.it_value.tv_sec) * 1e9);
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) its.it_value.tv_nsec = 1;
    if (timer_settime(worker.orphan_timer, 0, &its, NULL) == 0) worker.orphan_timer_state = 2;
}

/* SIGQUIT and SIGHUP: a graceful stop. The master sends SIGQUIT, and the
 * kernel sends it too when the master dies (Vassal::Server sets it as the
 * worker's PR_SET_PDEATHSIG): the flag stops the accepting at once, the
 * request in flight is finished, and so are the ones under way (see
 * drain_begin). */
static void
on_stop_signal(int sig)
{
    int saved = errno;
    char b = 'q';
    vassal_stop_signal = 1;
    orphan_deadline();
    if (worker.wake_w >= 0 && write(worker.wake_w, &b, 1) < 0) { /* the pipe is full: already woken */ }
    errno = saved;
    PERL_UNUSED_ARG(sig);
}

const char *
vassal_worker_run(pTHX_ HV *opts)
{
    struct epoll_event evs[64];
    struct sigaction sa, old_quit, old_hup, old_pipe;
    const char *reason;

    if (worker.running) croak("worker_run: already running");
    worker_setup(aTHX_ opts);
    worker.running = 1;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;     /* the app's own system calls carry on */
    sigaction(SIGQUIT, &sa, &old_quit);
    sigaction(SIGHUP, &sa, &old_hup);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, &old_pipe);

    if (worker.slot) {
        worker.slot->pid = (int)getpid();
        worker.slot->busy_since = 0;
        worker.slot->accepting = 1;
    }
    tell_master('A');
    /* the master died before the handler was installed */
    if (orphaned()) {
        vassal_stop_signal = 1;
        orphan_deadline();
    }

    while (!worker.stop_reason) {
        int n, i;
        if (vassal_stop_signal) {
            int draining = worker.draining;
            int left;
            if (!draining) drain_begin();
            left = drain_sweep();
            if (!left) {
                worker.stop_reason = orphaned() ? "the master is gone" : "graceful stop";
                break;
            }
            if (!draining) vlog("graceful stop: finishing %d request%s under way", left, left == 1 ? "" : "s");
        }
        n = epoll_wait(worker.epfd, evs, 64, next_timeout_ms());
        if (n < 0) {
            if (errno == EINTR) continue;
            vlog("epoll_wait failed: %s", strerror(errno));
            worker.stop_reason = "epoll_wait failed";
            break;
        }
        for (i = 0; i < n && !worker.stop_reason; i++) {
            int kind = *(int *)evs[i].data.ptr;
            if (kind == K_LISTENER) accept_some(aTHX_ (vlistener *)evs[i].data.ptr);
            else if (kind == K_CONN) conn_ready(aTHX_ (vconn *)evs[i].data.ptr);
        }
        expire(vassal_monotonic());
        bury();
    }
    reason = worker.stop_reason ? worker.stop_reason : "graceful stop";

    sigaction(SIGQUIT, &old_quit, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
    worker_teardown(aTHX);
    worker.running = 0;
    return reason;
}

vassal_board *
vassal_scoreboard_new(int n)
{
    vassal_board *b;
    void *p = mmap(NULL, sizeof(vassal_slot) * (size_t)n, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    memset(p, 0, sizeof(vassal_slot) * (size_t)n);
    b = (vassal_board *)malloc(sizeof(*b));
    if (!b) { munmap(p, sizeof(vassal_slot) * (size_t)n); return NULL; }
    b->n = n;
    b->slots = (vassal_slot *)p;
    return b;
}
