/*
 * vassal_response.c - calling the app and writing its response: an array response in
 * C, the rest through Vassal::Worker::respond and the Vassal::Conn object
 * (the response in flight), then psgix.cleanup.
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

static int
plain_sv(pTHX_ SV *sv)
{
    if (!sv) return 1;
    if (SvROK(sv) || SvGMAGICAL(sv) || SvTYPE(sv) > SVt_PVMG) return 0;
    if (SvUTF8(sv) && !sv_utf8_downgrade(sv, TRUE)) return 0;
    return 1;
}

static int
plain_av(pTHX_ SV *ref)
{
    AV *av;
    SSize_t i;
    if (!ref || !SvROK(ref)) return 0;
    av = (AV *)SvRV(ref);
    if (SvTYPE(av) != SVt_PVAV || SvMAGICAL(av)) return 0;
    for (i = 0; i <= AvFILLp(av); i++)
        if (!plain_sv(aTHX_ AvARRAY(av)[i])) return 0;
    return 1;
}

/* Builds the status line and the headers into worker.out and decides how the
 * body is framed. body_len: the length of an array body, -1 when unknown
 * (streaming: chunked for HTTP/1.1, the connection's end for HTTP/1.0).
 * Returns NULL or why the app's response cannot be sent. */
static const char *
build_head(pTHX_ SV *status_sv, AV *hav, IV body_len)
{
    vbuf *o = &worker.out;
    IV status;
    const char *reason;
    int no_body, has_cl = 0, has_te = 0, has_date = 0;
    int keepalive = worker.inflight.keepalive;
    SSize_t i, n;

    o->len = 0;
    if (!status_sv || !SvOK(status_sv) || !looks_like_number(status_sv))
        return "the status is not a number";
    status = SvIV(status_sv);
    if (status < 100 || status > 999) return "the status is not a 3-digit number";
    no_body = status < 200 || status == 204 || status == 304;
    reason = vassal_status_reason((int)status);

    if (worker.inflight.proto == VASSAL_PROTO_HTTP) {
        if (worker.inflight.minor) vbuf_adds(o, "HTTP/1.1 ");
        else           vbuf_adds(o, "HTTP/1.0 ");
    }
    else {
        vbuf_add(o, worker.inflight.protocol, strlen(worker.inflight.protocol));
        vbuf_adds(o, " ");
    }
    vbuf_addnum(o, (UV)status);
    vbuf_adds(o, " ");
    vbuf_add(o, reason, strlen(reason));
    vbuf_adds(o, "\r\n");

    n = hav ? av_len(hav) + 1 : 0;
    if (n % 2) return "the headers array has an odd number of elements";
    for (i = 0; i < n; i += 2) {
        SV **kp = av_fetch(hav, i, 0), **vp = av_fetch(hav, i + 1, 0);
        STRLEN kl, vl, j;
        const char *k, *v;
        if (!kp || !SvOK(*kp)) return "a header name is undefined";
        k = SvPVbyte(*kp, kl);
        if (!kl) return "a header name is empty";
        for (j = 0; j < kl; j++)
            if (!vassal_is_tchar((unsigned char)k[j])) return "a header name is not a token";
        if (vp && SvOK(*vp)) v = SvPVbyte(*vp, vl);
        else { v = ""; vl = 0; }
        for (j = 0; j < vl; j++)
            if (v[j] == '\r' || v[j] == '\n' || v[j] == '\0')
                return "a header value contains CR, LF or NUL";
        switch (kl) {
        case 14: if (vassal_ieq(k, kl, "content-length")) has_cl = 1; break;
        case 17: if (vassal_ieq(k, kl, "transfer-encoding")) has_te = 1; break;
        case 4:  if (vassal_ieq(k, kl, "date")) has_date = 1; break;
        case 10:
            if (vassal_ieq(k, kl, "connection")) {
                if (vassal_has_token(v, vl, "close")) keepalive = 0;
                /* HTTP: we write our own Connection header */
                if (worker.inflight.proto == VASSAL_PROTO_HTTP) continue;
            }
            break;
        }
        vbuf_add(o, k, kl);
        vbuf_adds(o, ": ");
        vbuf_add(o, v, vl);
        vbuf_adds(o, "\r\n");
    }
    if (!has_cl && !has_te && !no_body && body_len >= 0) {
        vbuf_adds(o, "Content-Length: ");
        vbuf_addnum(o, (UV)body_len);
        vbuf_adds(o, "\r\n");
        has_cl = 1;
    }
    worker.inflight.chunked = 0;
    worker.inflight.skip_body = worker.inflight.head || no_body;
    if (worker.inflight.proto == VASSAL_PROTO_HTTP) {
        if (!has_cl && !has_te && !worker.inflight.skip_body) {
            if (worker.inflight.minor) {
                worker.inflight.chunked = 1;
                vbuf_adds(o, "Transfer-Encoding: chunked\r\n");
            }
            else
                keepalive = 0;    /* the body ends with the connection */
        }
        if (has_te && !worker.inflight.skip_body) keepalive = 0;   /* the app frames its own body */
        if (vassal_stop_signal || worker.inflight.io_taken) keepalive = 0;
        if (!has_date) {
            vbuf_adds(o, "Date: ");
            vbuf_add(o, vassal_http_date(), 29);
            vbuf_adds(o, "\r\n");
        }
        if (!keepalive)      vbuf_adds(o, "Connection: close\r\n");
        else if (!worker.inflight.minor) vbuf_adds(o, "Connection: keep-alive\r\n");
    }
    else
        keepalive = 0;
    vbuf_adds(o, "\r\n");
    worker.inflight.keepalive = keepalive;
    return NULL;
}

static int
resp_send_flags(const char *p, size_t len, int flags)
{
    struct iovec iov;
    if (worker.inflight.failed) return -1;
    if (!len) return 0;
    iov.iov_base = (void *)p;
    iov.iov_len = len;
    if (sendv_all_flags(worker.inflight.c->fd, &iov, 1, worker.socket_timeout, flags) < 0) {
        worker.inflight.failed = 1;
        worker.inflight.keepalive = 0;
        return -1;
    }
    return 0;
}

/* The last bytes of a response: with MSG_MORE when the connection is about
 * to be closed (nothing buffered from the client, no psgix.io), so that the
 * FIN rides along - one packet less per connection. */
static int
resp_send_last(const char *p, size_t len)
{
    int closing = !worker.inflight.keepalive && !worker.inflight.io_taken && worker.inflight.c->len == 0;
    return resp_send_flags(p, len, closing ? MSG_MORE : 0);
}

static int
resp_send(const char *p, size_t len)
{
    return resp_send_flags(p, len, 0);
}

/* A complete response with an array body. Returns NULL, or an error: the
 * response cannot be sent (nothing was written), or "write: ..." */
static const char *
send_array_response(pTHX_ SV *status_sv, AV *hav, AV *bav)
{
    SSize_t i, n = av_len(bav) + 1;
    IV body_len = 0;
    const char *err;
    for (i = 0; i < n; i++) {
        SV **e = av_fetch(bav, i, 0);
        STRLEN l;
        if (e && SvOK(*e)) { (void)SvPVbyte(*e, l); body_len += (IV)l; }
    }
    err = build_head(aTHX_ status_sv, hav, body_len);
    if (err) return err;
    worker.inflight.started = 1;
    if (worker.inflight.skip_body) {
        if (resp_send_last(worker.out.p, worker.out.len) < 0) return "write: the client went away";
    }
    else if (worker.out.len + (size_t)body_len <= SMALL_RESPONSE) {
        for (i = 0; i < n; i++) {
            SV **e = av_fetch(bav, i, 0);
            STRLEN l;
            const char *p;
            if (!e || !SvOK(*e)) continue;
            p = SvPVbyte(*e, l);
            vbuf_add(&worker.out, p, l);
        }
        if (resp_send_last(worker.out.p, worker.out.len) < 0) return "write: the client went away";
    }
    else {
        if (resp_send(worker.out.p, worker.out.len) < 0) return "write: the client went away";
        for (i = 0; i < n; i++) {
            SV **e = av_fetch(bav, i, 0);
            STRLEN l;
            const char *p;
            if (!e || !SvOK(*e)) continue;
            p = SvPVbyte(*e, l);
            if (resp_send(p, l) < 0) return "write: the client went away";
        }
    }
    worker.inflight.finished = 1;
    return NULL;
}

/* The common case in C: [status, [headers], [body]] made of plain strings. */
static int
fast_response(pTHX_ SV *res)
{
    AV *av;
    SV **a;
    const char *err;
    if (!res || !SvROK(res)) return 0;
    av = (AV *)SvRV(res);
    if (SvTYPE(av) != SVt_PVAV || SvMAGICAL(av) || AvFILLp(av) != 2) return 0;
    a = AvARRAY(av);
    if (!a[0] || !plain_sv(aTHX_ a[0]) || !plain_av(aTHX_ a[1]) || !plain_av(aTHX_ a[2]))
        return 0;
    err = send_array_response(aTHX_ a[0], (AV *)SvRV(a[1]), (AV *)SvRV(a[2]));
    if (err && !worker.inflight.started) {
        vlog("invalid response from the app: %s", err);
        send_error(worker.inflight.c, 500);
        worker.inflight.started = worker.inflight.finished = 1;
        worker.inflight.keepalive = 0;
    }
    return 1;
}

static SV *
new_conn_obj(pTHX)
{
    SV *rv = newRV_noinc(newSVuv(worker.inflight.serial));
    return sv_bless(rv, worker.conn_stash);
}

/* Everything else goes to Perl: Vassal::Worker::respond($conn, $env, $res). */
static void
slow_response(pTHX_ SV *envrv, SV *res)
{
    dSP;
    SV *err;
    ENTER;
    SAVETMPS;
    PUSHMARK(SP);
    EXTEND(SP, 3);
    PUSHs(sv_2mortal(new_conn_obj(aTHX)));
    PUSHs(envrv);
    PUSHs(res ? res : &PL_sv_undef);
    PUTBACK;
    call_sv(worker.slow, G_DISCARD | G_EVAL);
    err = ERRSV;
    if (SvTRUE(err)) {
        if (!worker.inflight.failed) vlog_sv(aTHX_ worker.inflight.started ? "the response was cut" : "invalid response from the app", err);
        if (!worker.inflight.started && !worker.inflight.failed) {
            send_error(worker.inflight.c, 500);
            worker.inflight.started = worker.inflight.finished = 1;
        }
        worker.inflight.keepalive = 0;
        sv_setpvs(err, "");
    }
    else if (!worker.inflight.started && !worker.inflight.io_taken) {
        vlog("the app sent no response");
        send_error(worker.inflight.c, 500);
        worker.inflight.started = worker.inflight.finished = 1;
        worker.inflight.keepalive = 0;
    }
    FREETMPS;
    LEAVE;
}

static SV *
call_app(pTHX_ SV *envrv)
{
    dSP;
    int n;
    SV *res = NULL;
    PUSHMARK(SP);
    XPUSHs(envrv);
    PUTBACK;
    n = call_sv(worker.app, G_SCALAR | G_EVAL);
    SPAGAIN;
    if (n == 1) res = sv_2mortal(SvREFCNT_inc(POPs));
    PUTBACK;
    if (SvTRUE(ERRSV)) {
        vlog_sv(aTHX_ "the app died", ERRSV);
        sv_setpvs(ERRSV, "");
        return NULL;
    }
    return res;
}

static void
run_cleanup(pTHX_ HV *env, SV *envrv)
{
    SV **h = EFETCH(env, E_PSGIX_CLEANUP_HANDLERS);
    AV *av;
    SSize_t i;
    if (!h || !SvROK(*h) || SvTYPE(SvRV(*h)) != SVt_PVAV) return;
    av = (AV *)SvRV(*h);
    for (i = 0; i <= av_len(av); i++) {
        SV **cb = av_fetch(av, i, 0);
        dSP;
        if (!cb || !SvOK(*cb)) continue;
        PUSHMARK(SP);
        XPUSHs(envrv);
        PUTBACK;
        call_sv(*cb, G_DISCARD | G_EVAL);
        if (SvTRUE(ERRSV)) {
            vlog_sv(aTHX_ "a psgix.cleanup handler died", ERRSV);
            sv_setpvs(ERRSV, "");
        }
    }
}

void
tell_master(char what)
{
    char buf[32];
    int n;
    if (worker.status_fd < 0) return;
    n = snprintf(buf, sizeof(buf), "%c%d\n", what, (int)getpid());
    if (write(worker.status_fd, buf, (size_t)n) < 0) { /* the master is gone: PDEATHSIG follows */ }
}

/* Calls the app and sends its response. Returns 1 when the connection can
 * take another request, 0 when it was closed. */
int
run_request(pTHX_ vconn *c, SV *envrv, int keepalive)
{
    HV *env = (HV *)SvRV(envrv);
    SV *res;
    SV **commit;

    worker.inflight.c = c;
    worker.inflight.active = 1;
    if (worker.slot) worker.slot->busy_since = vassal_monotonic();
    worker.inflight.keepalive = keepalive && !vassal_stop_signal
        && !(worker.max_requests && worker.served + 1 >= worker.max_requests);
    worker.inflight.started = worker.inflight.finished = worker.inflight.chunked = worker.inflight.skip_body = worker.inflight.failed = worker.inflight.io_taken = 0;

    res = call_app(aTHX_ envrv);
    commit = EFETCH(env, E_PSGIX_HARAKIRI_COMMIT);
    if (commit && SvTRUE(*commit)) worker.inflight.keepalive = 0;    /* the worker goes after this one */
    if (!res) {
        send_error(c, 500);
        worker.inflight.started = worker.inflight.finished = 1;
        worker.inflight.keepalive = 0;
    }
    else if (!fast_response(aTHX_ res))
        slow_response(aTHX_ envrv, res);
    if (worker.inflight.started && !worker.inflight.finished && !worker.inflight.failed && worker.inflight.chunked && !worker.inflight.skip_body)
        resp_send("0\r\n\r\n", 5);
    worker.inflight.active = 0;

    if (worker.slot) {
        worker.slot->busy_since = 0;
        worker.slot->last_done = vassal_monotonic();
        worker.slot->requests++;
    }
    worker.served++;
    if (!worker.told_served) {
        worker.told_served = 1;
        tell_master('S');
    }
    commit = EFETCH(env, E_PSGIX_HARAKIRI_COMMIT);
    if (commit && SvTRUE(*commit)) worker.stop_reason = "psgix.harakiri.commit";
    if (worker.max_requests && worker.served >= worker.max_requests) worker.stop_reason = "max-requests";

    /* close first: the client has its whole response before cleanup runs.
     * At once when the client asked for it (Connection: close, HTTP/1.0)
     * and sent nothing more that we know of: the common case of close mode,
     * four system calls a connection (accept4, read, sendmsg, close), the
     * FIN in the response's segment. In stages (conn_close_lingering) when
     * unread bytes may be there or coming: bytes after the request, a
     * read that filled the buffer, a client that expected the connection
     * to stay open and may have pipelined more. Not when the app took the
     * socket (psgix.io: shutdown would cut its copy too) or the client is
     * gone. */
    if (!worker.inflight.keepalive || worker.inflight.failed || worker.inflight.io_taken || worker.stop_reason) {
        if (!worker.inflight.failed && !worker.inflight.io_taken && (c->len || c->more || keepalive))
            conn_close_lingering(c);
        else conn_close(c);
        run_cleanup(aTHX_ env, envrv);
        return 0;
    }
    run_cleanup(aTHX_ env, envrv);
    return 1;
}

void
vassal_conn_check(pTHX_ SV *self)
{
    if (!SvROK(self) || !worker.inflight.active || SvUV(SvRV(self)) != worker.inflight.serial)
        croak("this response is already finished");
}

void
vassal_conn_send(pTHX_ SV *self, SV *status, SV *headers, SV *body)
{
    const char *err;
    vassal_conn_check(aTHX_ self);
    if (worker.inflight.started) croak("the response was already started");
    if (headers && SvOK(headers) && (!SvROK(headers) || SvTYPE(SvRV(headers)) != SVt_PVAV))
        croak("invalid response: the headers are not an array reference");
    if (!SvROK(body) || SvTYPE(SvRV(body)) != SVt_PVAV)
        croak("invalid response: the body is not an array reference");
    err = send_array_response(aTHX_ status,
                              headers && SvOK(headers) ? (AV *)SvRV(headers) : NULL,
                              (AV *)SvRV(body));
    if (err) croak("%s%s", worker.inflight.started ? "" : "invalid response: ", err);
}

void
vassal_conn_start(pTHX_ SV *self, SV *status, SV *headers)
{
    const char *err;
    vassal_conn_check(aTHX_ self);
    if (worker.inflight.started) croak("the response was already started");
    if (headers && SvOK(headers) && (!SvROK(headers) || SvTYPE(SvRV(headers)) != SVt_PVAV))
        croak("invalid response: the headers are not an array reference");
    err = build_head(aTHX_ status, headers && SvOK(headers) ? (AV *)SvRV(headers) : NULL, -1);
    if (err) croak("invalid response: %s", err);
    worker.inflight.started = 1;
    if (resp_send(worker.out.p, worker.out.len) < 0) croak("write: the client went away");
}

void
vassal_conn_write(pTHX_ SV *self, SV *data)
{
    STRLEN l;
    const char *p;
    vassal_conn_check(aTHX_ self);
    if (!worker.inflight.started) croak("write before the response was started");
    if (worker.inflight.finished) croak("write after close");
    if (!data || !SvOK(data)) return;
    p = SvPVbyte(data, l);
    if (!l || worker.inflight.skip_body) return;
    if (worker.inflight.failed) croak("write: the client went away");
    if (worker.inflight.chunked) {
        char hex[24];
        struct iovec iov[3];
        int hl = snprintf(hex, sizeof(hex), "%lx\r\n", (unsigned long)l);
        iov[0].iov_base = hex;          iov[0].iov_len = (size_t)hl;
        iov[1].iov_base = (void *)p;    iov[1].iov_len = l;
        iov[2].iov_base = (void *)"\r\n"; iov[2].iov_len = 2;
        if (sendv_all(worker.inflight.c->fd, iov, 3, worker.socket_timeout) < 0) {
            worker.inflight.failed = 1;
            worker.inflight.keepalive = 0;
            croak("write: the client went away");
        }
    }
    else if (resp_send(p, l) < 0)
        croak("write: the client went away");
}

void
vassal_conn_finish(pTHX_ SV *self)
{
    vassal_conn_check(aTHX_ self);
    if (!worker.inflight.started || worker.inflight.finished) return;
    worker.inflight.finished = 1;
    if (worker.inflight.chunked && !worker.inflight.skip_body && resp_send("0\r\n\r\n", 5) < 0)
        croak("write: the client went away");
}

int
vassal_conn_flag(pTHX_ SV *self, const char *which)
{
    if (!SvROK(self) || SvUV(SvRV(self)) != worker.inflight.serial) {
        if (strEQ(which, "active")) return 0;
        return 1;    /* an old response: started, finished */
    }
    if (strEQ(which, "active")) return worker.inflight.active;
    if (strEQ(which, "started")) return worker.inflight.started;
    if (strEQ(which, "finished")) return worker.inflight.finished;
    if (strEQ(which, "io_taken")) return worker.inflight.io_taken;
    if (strEQ(which, "keepalive")) return worker.inflight.keepalive;
    croak("unknown flag %s", which);
    return 0;
}

void
vassal_conn_no_keepalive(pTHX_ SV *self)
{
    vassal_conn_check(aTHX_ self);
    worker.inflight.keepalive = 0;
}
