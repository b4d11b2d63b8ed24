/*
 * vassal_setup.c - a worker's start and end: its options (croaking on a bad
 * one before anything is served), its listeners, epoll set and stop-signal
 * pipe; and closing what is left when it stops.
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

static SV *
opt_fetch(pTHX_ HV *opts, const char *key)
{
    SV **svp = hv_fetch(opts, key, (I32)strlen(key), 0);
    return svp && SvOK(*svp) ? *svp : NULL;
}

static double
opt_num(pTHX_ HV *opts, const char *key, double dflt)
{
    SV *sv = opt_fetch(aTHX_ opts, key);
    return sv ? SvNV(sv) : dflt;
}

void
worker_setup(pTHX_ HV *opts)
{
    SV *sv;
    AV *lav;
    SSize_t i;
    struct rlimit rl;
    int pfd[2];

    env_keys_init(aTHX);
    memset(&worker.lists, 0, sizeof(worker.lists));
    memset(&worker.clocks, 0, sizeof(worker.clocks));
    worker.body_memory = 0;
    worker.graveyard = NULL;
    worker.nconns = 0;
    worker.served = 0;
    worker.told_served = 0;
    worker.stop_reason = NULL;
    worker.draining = 0;
    worker.wake_r = worker.wake_w = -1;
    vassal_stop_signal = 0;

    if (!(sv = opt_fetch(aTHX_ opts, "app")) || !SvROK(sv))
        croak("worker_run: app must be a code reference");
    worker.app = sv;
    if (!(sv = opt_fetch(aTHX_ opts, "slow")) || !SvROK(sv))
        croak("worker_run: slow must be a code reference");
    worker.slow = sv;
    if (!(sv = opt_fetch(aTHX_ opts, "listeners")) || !SvROK(sv) || SvTYPE(SvRV(sv)) != SVt_PVAV)
        croak("worker_run: listeners must be an array reference");
    lav = (AV *)SvRV(sv);
    worker.nls = (int)(av_len(lav) + 1);
    if (worker.nls < 1) croak("worker_run: no listener");
    Newxz(worker.ls, worker.nls, vlistener);
    for (i = 0; i < worker.nls; i++) {
        SV **e = av_fetch(lav, i, 0);
        HV *lh;
        SV *v;
        if (!e || !SvROK(*e) || SvTYPE(SvRV(*e)) != SVt_PVHV) croak("worker_run: listener %d is not a hash", (int)i);
        lh = (HV *)SvRV(*e);
        worker.ls[i].kind = K_LISTENER;
        if (!(v = opt_fetch(aTHX_ lh, "fd"))) croak("worker_run: listener %d has no fd", (int)i);
        worker.ls[i].fd = (int)SvIV(v);
        v = opt_fetch(aTHX_ lh, "proto");
        worker.ls[i].proto = v && strEQ(SvPV_nolen(v), "uwsgi") ? VASSAL_PROTO_UWSGI : VASSAL_PROTO_HTTP;
        v = opt_fetch(aTHX_ lh, "unix");
        worker.ls[i].is_unix = v && SvTRUE(v);
        v = opt_fetch(aTHX_ lh, "server_name");
        worker.ls[i].server_name = v ? newSVsv(v) : newSVpvs("localhost");
        v = opt_fetch(aTHX_ lh, "server_port");
        worker.ls[i].server_port = v ? newSVsv(v) : newSVpvs("0");
        /* accept4() must not block when another worker took the connection */
        fcntl(worker.ls[i].fd, F_SETFL, fcntl(worker.ls[i].fd, F_GETFL) | O_NONBLOCK);
    }
    worker.socket_timeout = opt_num(aTHX_ opts, "socket_timeout", 4);
    worker.keepalive_timeout = opt_num(aTHX_ opts, "keepalive_timeout", worker.socket_timeout);
    sv = opt_fetch(aTHX_ opts, "underscores_in_headers");
    worker.underscores_in_headers = sv && SvTRUE(sv);
    worker.buffer_size = (UV)opt_num(aTHX_ opts, "buffer_size", 65536);
    worker.limit_post = (UV)opt_num(aTHX_ opts, "limit_post", LIMIT_POST_DEFAULT);
    worker.post_buffering = (UV)opt_num(aTHX_ opts, "post_buffering", 1024 * 1024);
    worker.max_requests = (UV)opt_num(aTHX_ opts, "max_requests", 0);
    worker.status_fd = (int)opt_num(aTHX_ opts, "status_fd", -1);
    worker.master_pid = (pid_t)opt_num(aTHX_ opts, "master_pid", 0);
    worker.orphan_timeout = opt_num(aTHX_ opts, "orphan_timeout", 0);
    worker.orphan_timer_state = 0;
    if (worker.master_pid > 0 && worker.orphan_timeout > 0) {
        struct sigevent se;
        memset(&se, 0, sizeof(se));
        se.sigev_notify = SIGEV_SIGNAL;
        se.sigev_signo = SIGKILL;
        if (timer_create(CLOCK_MONOTONIC, &se, &worker.orphan_timer) == 0) worker.orphan_timer_state = 1;
        else vlog("timer_create failed: %s (an orphaned worker is not bounded)", strerror(errno));
    }
    if (worker.socket_timeout <= 0) worker.socket_timeout = 4;
    if (worker.keepalive_timeout <= 0) worker.keepalive_timeout = worker.socket_timeout;
    worker.header_timeout = opt_num(aTHX_ opts, "header_timeout", 0);
    if (worker.header_timeout <= 0) worker.header_timeout = 3 * worker.socket_timeout;
    worker.body_timeout = opt_num(aTHX_ opts, "body_timeout", BODY_TIMEOUT_DEFAULT);
    if (worker.body_timeout <= 0) worker.body_timeout = BODY_TIMEOUT_DEFAULT;
    if (worker.buffer_size < 512) worker.buffer_size = 512;
    /* TCP_DEFER_ACCEPT, as uWSGI (unless no-defer-accept): a TCP connection
     * is queued for accept() once its first bytes have arrived (or after
     * about socket-timeout seconds without any), not at the end of the
     * handshake. Without it a worker that is faster than its clients takes
     * the connection before the request, finds nothing to read, parks it in
     * epoll and is woken a second time: twice the wake-ups (each one paid
     * by the client's system call that completes the handshake or sends the
     * request) and four more system calls per connection. The option
     * belongs to the listening socket, shared by every worker and kept
     * across reloads: set (or cleared) by each worker alike. */
    sv = opt_fetch(aTHX_ opts, "defer_accept");
    {
        int defer = sv && !SvTRUE(sv) ? 0 : (int)(worker.socket_timeout + 0.999);
        for (i = 0; i < worker.nls; i++)
            if (!worker.ls[i].is_unix)
                (void)setsockopt(worker.ls[i].fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof(defer));
    }
    worker.slot = NULL;
    if ((sv = opt_fetch(aTHX_ opts, "scoreboard")) && SvROK(sv)) {
        vassal_board *board = INT2PTR(vassal_board *, SvIV(SvRV(sv)));
        int idx = (int)opt_num(aTHX_ opts, "slot", 0);
        if (idx < 0 || idx >= board->n) croak("worker_run: slot %d is not on the scoreboard", idx);
        worker.slot = board->slots + idx;
    }
    sv = opt_fetch(aTHX_ opts, "name");
    snprintf(worker.name, sizeof(worker.name), "%s", sv ? SvPV_nolen(sv) : "psgi-vassal");
    sv = opt_fetch(aTHX_ opts, "tmpdir");
    snprintf(worker.tmpdir, sizeof(worker.tmpdir), "%s", sv ? SvPV_nolen(sv) : "/tmp");

    worker.stderr_gv = gv_fetchpvs("STDERR", GV_ADD, SVt_PVIO);
    worker.psgi_version = newAV();
    av_push(worker.psgi_version, newSViv(1));
    av_push(worker.psgi_version, newSViv(1));
    SvREADONLY_on((SV *)worker.psgi_version);
    worker.conn_stash = gv_stashpvs("Vassal::Conn", GV_ADD);
    worker.input_stash = gv_stashpvs("Vassal::Input", GV_ADD);
    worker.inet_stash = gv_stashpvs("IO::Socket::INET", GV_ADD);
    worker.unix_stash = gv_stashpvs("IO::Socket::UNIX", GV_ADD);
    worker.empty_input = input_wrap(aTHX_ input_alloc(aTHX_ 0), worker.input_stash);
    if (!worker.scratch) Newx(worker.scratch, SCRATCH_SIZE, char);

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        worker.max_conns = (int)rl.rlim_cur - 64;
    else
        worker.max_conns = 4096;
    if (worker.max_conns > 65536) worker.max_conns = 65536;
    if (worker.max_conns < 8) worker.max_conns = 8;
    {
        /* each holds up to buffer_size bytes: a bound on the worker's memory */
        double mc = opt_num(aTHX_ opts, "max_connections", MAX_CONNS_DEFAULT);
        if (mc >= 1 && mc < worker.max_conns) worker.max_conns = (int)mc;
    }

    worker.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (worker.epfd < 0) croak("epoll_create1 failed: %s", strerror(errno));
    for (i = 0; i < worker.nls; i++) {
        struct epoll_event ev;
        memset(&ev, 0, sizeof(ev));
        /* Not EPOLLEXCLUSIVE: the listening socket may be shared with another
         * generation of the vassal (the Emperor holds it), and a worker that
         * stops right after the kernel chose it alone for a connection would
         * leave that connection unannounced to every other worker until the
         * next one arrives. Level-triggered and shared, every idle worker
         * hears of it and one wins accept4() (uWSGI's default, no thunder lock). */
        ev.events = EPOLLIN;
        ev.data.ptr = &worker.ls[i];
        if (epoll_ctl(worker.epfd, EPOLL_CTL_ADD, worker.ls[i].fd, &ev) < 0)
            croak("epoll_ctl(ADD) of listener fd %d failed: %s", worker.ls[i].fd, strerror(errno));
    }
    /* the stop signal's self-pipe, so that no signal is lost between checks */
    if (pipe2(pfd, O_NONBLOCK | O_CLOEXEC) < 0) croak("pipe2 failed: %s", strerror(errno));
    worker.wake_r = pfd[0];
    worker.wake_w = pfd[1];
    worker.wake_kind = K_WAKE;
    {
        struct epoll_event ev;
        memset(&ev, 0, sizeof(ev));
        ev.events = EPOLLIN;
        ev.data.ptr = &worker.wake_kind;
        epoll_ctl(worker.epfd, EPOLL_CTL_ADD, worker.wake_r, &ev);
    }
}

void
worker_teardown(pTHX)
{
    int i, w;
    /* lingering connections get the rest of their time (at most
     * LINGER_SECONDS in all: the deadlines are absolute) */
    while (worker.lists[LIST_LINGER].head) {
        vconn *c = worker.lists[LIST_LINGER].head;
        double left = c->deadline - vassal_monotonic();
        list_remove(c);
        if (left > 0 && wait_fd(c->fd, POLLIN, left) > 0 && !linger_drain(c))
            list_append(c, LIST_LINGER, c->deadline);
        else
            conn_close(c);
    }
    for (w = LIST_PARTIAL; w <= LIST_LAST; w++)
        while (worker.lists[w].head) conn_close(worker.lists[w].head);
    bury();
    while (worker.pool) {
        vconn *c = worker.pool;
        worker.pool = c->dead_next;
        Safefree(c->buf);
        Safefree(c);
    }
    worker.npool = 0;
    /* an armed deadline stays: the orphaned worker is on its way out */
    if (worker.orphan_timer_state == 1) timer_delete(worker.orphan_timer);
    worker.orphan_timer_state = 0;
    close(worker.epfd);
    close(worker.wake_r);
    close(worker.wake_w);
    worker.wake_r = worker.wake_w = -1;
    for (i = 0; i < worker.nls; i++) {
        SvREFCNT_dec(worker.ls[i].server_name);
        SvREFCNT_dec(worker.ls[i].server_port);
    }
    Safefree(worker.ls);
    worker.ls = NULL;
    SvREFCNT_dec(worker.empty_input);
    SvREFCNT_dec((SV *)worker.psgi_version);
}
