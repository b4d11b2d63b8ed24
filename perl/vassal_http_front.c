/*
 * vassal_http_front.c - the HTTP/1.x front end: a parsed head (vassal_http.c) into the
 * env, its framing checked (RFC 9112), its body read, the request run;
 * keep-alive and pipelining.
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

/* A refusal for env_from_http: the status and the reason for the log. */
static int
refused(vreqinfo *info, int status, const char *why)
{
    info->status = status;
    info->why = why;
    return 0;
}

static int
bad_header(vreqinfo *info, const char *why)
{
    return refused(info, 400, why);
}

/* Fills the request part of the env from a parsed head and checks its
 * framing. Returns 1, or 0 when the request is refused: info->status and
 * info->why say with what and why. */
static int
env_from_http(pTHX_ HV *env, const vassal_request *req, vreqinfo *info)
{
    const char *t = req->target, *path, *q, *frag, *tend = req->target + req->target_len;
    size_t i;
    int underscored = 0, hosts = 0;
    SV *sv;

    info->content_length = -1;
    info->why = NULL;
    info->status = 0;
    info->chunked = info->conn_close = info->conn_keepalive = info->expect_continue = 0;
    info->te_codings = info->te_chunked = info->te_last_chunked = 0;

    ESTORE(env, E_REQUEST_METHOD, newSVpvn(req->method, req->method_len));
    ESTORE(env, E_REQUEST_URI, newSVpvn(req->target, req->target_len));
    ESTORE(env, E_SERVER_PROTOCOL, newSVpvn(req->protocol, req->protocol_len));

    /* absolute-form (a request to a proxy): the path starts after the authority */
    path = t;
    if ((req->target_len > 7 && vassal_ieq(t, 7, "http://"))
        || (req->target_len > 8 && vassal_ieq(t, 8, "https://"))) {
        const char *a = (const char *)memchr(t, ':', req->target_len) + 3;
        const char *slash = a < tend ? memchr(a, '/', (size_t)(tend - a)) : NULL;
        const char *qm = a < tend ? memchr(a, '?', (size_t)(tend - a)) : NULL;
        if (slash && (!qm || slash < qm)) path = slash;
        else path = qm ? qm : tend;
    }
    frag = memchr(path, '#', (size_t)(tend - path));
    if (frag) tend = frag;
    q = memchr(path, '?', (size_t)(tend - path));
    {
        const char *pend = q ? q : tend;
        size_t plen = (size_t)(pend - path);
        sv = newSV(plen + 1);
        SvPOK_only(sv);
        SvCUR_set(sv, vassal_percent_decode(path, plen, SvPVX(sv)));
        SvPVX(sv)[SvCUR(sv)] = '\0';
        ESTORE(env, E_PATH_INFO, sv);
    }
    ESTORE(env, E_QUERY_STRING, q ? newSVpvn(q + 1, (size_t)(tend - q - 1)) : newSVpvs(""));

    for (i = 0; i < req->nheaders; i++) {
        const vassal_header *h = &req->headers[i];
        /* X_Foo would become HTTP_X_FOO, as X-Foo does: see env_underscored */
        if (memchr(h->name, '_', h->name_len)) {
            underscored = 1;
            continue;
        }
        switch (h->name_len) {
        case 14:
            if (vassal_ieq(h->name, 14, "content-length")) {
                long long v;
                if (!vassal_content_length(h->value, h->value_len, &v))
                    return bad_header(info, "invalid Content-Length");
                if (info->content_length >= 0 && info->content_length != v)
                    return bad_header(info, "conflicting Content-Length fields");
                if (info->content_length < 0)
                    ESTORE(env, E_CONTENT_LENGTH, newSViv(v));
                info->content_length = v;
                continue;
            }
            break;
        case 17:
            if (vassal_ieq(h->name, 17, "transfer-encoding")) {
                /* the codings of every Transfer-Encoding field, in order.
                 * Empty list elements are skipped (RFC 9110 5.6.1), but a
                 * field with no coding at all ("", ",", " , ") is refused:
                 * ignored, it would leave the body to a Content-Length that
                 * a proxy in front may not have framed it by. */
                size_t j = 0;
                int codings = 0;
                while (j < h->value_len) {
                    size_t s0, e0;
                    while (j < h->value_len && (h->value[j] == ' ' || h->value[j] == '\t' || h->value[j] == ',')) j++;
                    s0 = j;
                    while (j < h->value_len && h->value[j] != ',') j++;
                    e0 = j;
                    while (e0 > s0 && (h->value[e0 - 1] == ' ' || h->value[e0 - 1] == '\t')) e0--;
                    if (e0 == s0) continue;
                    codings++;
                    info->te_codings++;
                    info->te_last_chunked = vassal_ieq(h->value + s0, e0 - s0, "chunked");
                    if (info->te_last_chunked) info->te_chunked++;
                }
                if (!codings) return bad_header(info, "a Transfer-Encoding field without a coding");
            }
            break;
        case 10:
            if (vassal_ieq(h->name, 10, "connection")) {
                if (vassal_has_token(h->value, h->value_len, "close")) info->conn_close = 1;
                if (vassal_has_token(h->value, h->value_len, "keep-alive")) info->conn_keepalive = 1;
            }
            break;
        case 4:
            /* RFC 9112 3.2: exactly one Host in HTTP/1.1, at most one in
             * HTTP/1.0, and a valid one */
            if (vassal_ieq(h->name, 4, "host")) {
                if (hosts++) return bad_header(info, "more than one Host header field");
                if (!vassal_valid_authority(h->value, h->value_len, 0))
                    return bad_header(info, "an invalid Host header field");
            }
            break;
        case 6:
            if (vassal_ieq(h->name, 6, "expect")
                && vassal_ieq(h->value, h->value_len, "100-continue"))
                info->expect_continue = 1;
            break;
        }
        env_header(aTHX_ env, h);
    }
    if (!hosts && req->minor == 1) return bad_header(info, "an HTTP/1.1 request without a Host header field");
    if (underscored && worker.underscores_in_headers) env_underscored(aTHX_ env, req);
    /* RFC 9112 6.1: chunked must be the last coding, applied once; other
     * codings are not implemented (501) */
    if (info->te_codings) {
        if (!info->te_last_chunked || info->te_chunked > 1)
            return bad_header(info, "chunked is not the last transfer coding, or comes twice");
        if (info->te_codings > 1) return refused(info, 501, "unsupported Transfer-Encoding");
        info->chunked = 1;
        if (info->content_length >= 0)      /* smuggling */
            return bad_header(info, "both Content-Length and Transfer-Encoding");
    }
    return 1;
}

/* One HTTP request whose head (head_len bytes) is in c->buf. */
static int
http_request(pTHX_ vconn *c, size_t head_len)
{
    vassal_request req;
    vreqinfo info;
    HV *env;
    SV *envrv;
    size_t pos = head_len;
    int rc, keep, is_head;

    rc = vassal_http_parse_head(c->buf, head_len, &req);
    if (rc) {
        if (rc == VASSAL_E_VERSION) refuse(c, 505, "unsupported protocol version");
        else if (rc == VASSAL_E_TOO_MANY) refuse(c, 431, "too many header fields");
        else refuse(c, 400, "malformed request");
        return 0;
    }
    /* req points into c->buf, which reading the body moves (compaction) or
     * reallocates: everything needed of the head is taken before that. */
    is_head = req.method_len == 4 && memcmp(req.method, "HEAD", 4) == 0;
    request_begins();
    ENTER;
    SAVETMPS;
    env = newHV();
    envrv = sv_2mortal(newRV_noinc((SV *)env));
    hv_ksplit(env, 48);
    if (!env_from_http(aTHX_ env, &req, &info)) {
        refuse(c, info.status, info.why);
        goto aborted;
    }
    if (!info.chunked && body_over_limit(c, info.content_length)) goto aborted;

    ESTORE(env, E_SCRIPT_NAME, newSVpvs(""));
    ESTORE(env, E_SERVER_NAME, newSVsv(c->l->server_name));
    ESTORE(env, E_SERVER_PORT, newSVsv(c->l->server_port));
    ESTORE(env, E_REMOTE_ADDR, newSVpv(c->addr, 0));
    ESTORE(env, E_REMOTE_PORT, newSViv(c->port));
    ESTORE(env, E_PSGI_URL_SCHEME, newSVpvs("http"));
    env_common(aTHX_ env, c);

    if (!info.chunked && info.content_length <= 0)
        ESTORE(env, E_PSGI_INPUT, newRV_inc(SvRV(worker.empty_input)));
    else if (info.expect_continue && req.minor == 1 && pos == c->len)
        send_all(c->fd, "HTTP/1.1 100 Continue\r\n\r\n", 25, worker.socket_timeout);

    keep = req.minor == 1 ? !info.conn_close : info.conn_keepalive;
    /* RFC 9112 6.1: an HTTP/1.0 message with Transfer-Encoding has faulty
     * framing (an HTTP/1.0 hop in front frames it otherwise): it is served,
     * then the connection is closed - in stages, since bytes the sender
     * meant as this body may still be unread */
    if (!req.minor && info.te_codings) {
        keep = 0;
        c->more = 1;
    }
    conn_consume(c, &pos);
    if (info.chunked || info.content_length > 0) {
        vbody *b = body_begin(aTHX_ c, envrv, info.chunked ? -1 : info.content_length);
        if (!b) {
            refuse(c, 500, "cannot store the body");
            goto aborted;
        }
        b->keep = keep;
        b->proto = VASSAL_PROTO_HTTP;
        b->minor = req.minor;
        b->is_head = is_head;
        FREETMPS;
        LEAVE;
        return body_advance(aTHX_ c);
    }
    worker.inflight.proto = VASSAL_PROTO_HTTP;
    worker.inflight.minor = req.minor;
    worker.inflight.head = is_head;
    rc = run_request(aTHX_ c, envrv, keep);
    FREETMPS;
    LEAVE;
    return rc;

  aborted:
    FREETMPS;
    LEAVE;
    return 0;
}

vassal_head_result
vassal_parse_http_request(pTHX_ SV *bufsv, HV *env, size_t *head_len)
{
    STRLEN len;
    const char *buf = SvPVbyte(bufsv, len);
    size_t scan = 0, end, skip;
    vassal_request req;
    vreqinfo info;
    int rc;
    env_keys_init(aTHX);
    skip = vassal_http_skip_empty_lines(buf, len);
    buf += skip;
    len -= skip;
    end = vassal_http_head_end(buf, len, &scan);
    if (!end) {
        rc = vassal_http_check_first_line(buf, len);
        if (rc == VASSAL_E_VERSION) return VASSAL_HEAD_BAD_VERSION;
        return rc ? VASSAL_HEAD_MALFORMED : VASSAL_HEAD_INCOMPLETE;
    }
    rc = vassal_http_parse_head(buf, end, &req);
    if (rc == VASSAL_E_VERSION) return VASSAL_HEAD_BAD_VERSION;
    if (rc == VASSAL_E_TOO_MANY) return VASSAL_HEAD_TOO_MANY_FIELDS;
    if (rc || !env_from_http(aTHX_ env, &req, &info)) return VASSAL_HEAD_MALFORMED;
    *head_len = end + skip;
    return VASSAL_HEAD_PARSED;
}

/* Serves the HTTP requests c->buf holds, one after another (pipelining);
 * parks the connection when it needs more. */
void
http_serve(pTHX_ vconn *c)
{
    for (;;) {
        size_t skip, end;
        /* a keep-alive connection's next head: its clock starts with its
         * first byte (the idle wait before is keepalive-timeout's) */
        if (c->len) head_clock_start(c, vassal_monotonic());
        skip = vassal_http_skip_empty_lines(c->buf, c->len);
        if (skip) {
            const char *p = c->buf, *e = c->buf + skip;
            while ((p = memchr(p, '\n', (size_t)(e - p)))) { p++; c->empty_lines++; }
            if (c->empty_lines > EMPTY_LINES_MAX) {
                refuse(c, 400, "more than " STRINGIFY(EMPTY_LINES_MAX) " empty lines before the request line");
                return;
            }
            conn_consume(c, &skip);
        }
        if (!c->len) {
            conn_park(c, c->nreq ? LIST_IDLE : LIST_PARTIAL);
            return;
        }
        end = vassal_http_head_end(c->buf, c->len, &c->scan);
        if (!end) {
            int rc = vassal_http_check_first_line(c->buf, c->len);
            if (rc == VASSAL_E_VERSION) { refuse(c, 505, "unsupported protocol version"); return; }
            if (rc) { refuse(c, 400, "malformed request"); return; }
            if (c->len >= worker.buffer_size) {
                if (!memchr(c->buf, '\n', c->len))
                    refuse(c, 414, "request line longer than buffer-size");
                else
                    refuse(c, 431, "header section longer than buffer-size");
                return;
            }
            conn_park(c, LIST_PARTIAL);
            return;
        }
        if (end > worker.buffer_size) {
            refuse(c, 431, "header section longer than buffer-size");
            return;
        }
        head_clock_stop(c);
        if (!http_request(aTHX_ c, end)) return;
        c->nreq++;
    }
}
