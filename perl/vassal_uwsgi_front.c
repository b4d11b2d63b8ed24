/*
 * vassal_uwsgi_front.c - the uwsgi front end: one request a connection, a packet whose
 * dict is the env, then the body.
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

/* Is this key of the psgi.* or psgix.* namespace (case aside)? */
static int
psgi_key(const char *k, size_t kl)
{
    return (kl > 5 && vassal_ieq(k, 5, "psgi.")) || (kl > 6 && vassal_ieq(k, 6, "psgix."));
}

/* One uwsgi request (modifier1 0 or 5): the dict is the env, the body
 * follows. Keys of the psgi.* and psgix.* namespaces are the server's and
 * the app's, not the front end's: such keys from the wire are dropped
 * (psgix.harakiri.commit would stop the worker, psgix.io would be taken for
 * the connection), with one log line for the request - there is one
 * request a connection. */
static int
uwsgi_request(pTHX_ vconn *c, size_t pktsize)
{
    const unsigned char *p = (const unsigned char *)c->buf + 4;
    size_t off = 0, pos = 4 + pktsize;
    HV *env;
    SV *envrv;
    SV **svp;
    long long cl = 0;
    int dropped = 0;
    char first[65];

    request_begins();
    ENTER;
    SAVETMPS;
    env = newHV();
    envrv = sv_2mortal(newRV_noinc((SV *)env));
    hv_ksplit(env, 64);
    for (;;) {
        vassal_dict_pair item;
        vassal_dict_error err;
        const char *k, *v;
        size_t kl, vl;
        vassal_dict_step step = vassal_uwsgi_dict_next(p, pktsize, &off, &item, &err);
        if (step == VASSAL_DICT_END) break;
        if (step == VASSAL_DICT_MALFORMED) goto malformed;
        k = item.key;
        kl = item.key_len;
        v = item.value;
        vl = item.value_len;
        if (!kl) continue;
        if (psgi_key(k, kl)) {
            if (!dropped++) {
                size_t j, n = kl < sizeof(first) - 1 ? kl : sizeof(first) - 1;
                for (j = 0; j < n; j++)
                    first[j] = k[j] > 0x20 && k[j] < 0x7f ? k[j] : '?';
                first[n] = '\0';
            }
            continue;
        }
        (void)hv_store(env, k, (I32)kl, newSVpvn(v, vl), 0);
    }
    if (dropped)
        vlog("uwsgi request: %d psgi.*/psgix.* key(s) from the front end dropped (%s%s)",
             dropped, first, dropped > 1 ? ", ..." : "");

    /* what PSGI needs that a front end may not send */
    if (!EFETCH(env, E_SCRIPT_NAME)) ESTORE(env, E_SCRIPT_NAME, newSVpvs(""));
    else {
        SV **sn = EFETCH(env, E_SCRIPT_NAME);
        STRLEN l;
        const char *s = SvPV(*sn, l);
        if (l == 1 && s[0] == '/') sv_setpvs(*sn, "");
    }
    if (!EFETCH(env, E_REQUEST_METHOD)) ESTORE(env, E_REQUEST_METHOD, newSVpvs("GET"));
    if (!EFETCH(env, E_PATH_INFO) || !EFETCH(env, E_QUERY_STRING)) {
        SV **uri = EFETCH(env, E_REQUEST_URI);
        STRLEN l = 0;
        const char *u = uri ? SvPV(*uri, l) : "";
        const char *q = memchr(u, '?', l);
        size_t plen = q ? (size_t)(q - u) : l;
        if (!EFETCH(env, E_PATH_INFO)) {
            SV *sv = newSV(plen + 1);
            SvPOK_only(sv);
            SvCUR_set(sv, vassal_percent_decode(u, plen, SvPVX(sv)));
            SvPVX(sv)[SvCUR(sv)] = '\0';
            ESTORE(env, E_PATH_INFO, sv);
        }
        if (!EFETCH(env, E_QUERY_STRING))
            ESTORE(env, E_QUERY_STRING, q ? newSVpvn(q + 1, l - plen - 1) : newSVpvs(""));
    }
    if (!EFETCH(env, E_SERVER_NAME)) ESTORE(env, E_SERVER_NAME, newSVsv(c->l->server_name));
    if (!EFETCH(env, E_SERVER_PORT)) ESTORE(env, E_SERVER_PORT, newSVsv(c->l->server_port));
    EDELETE(env, E_HTTP_CONTENT_LENGTH);
    EDELETE(env, E_HTTP_CONTENT_TYPE);
    {
        const char *scheme = "http";
        SV **s;
        if ((s = EFETCH(env, E_UWSGI_SCHEME)) && SvOK(*s)) scheme = SvPV_nolen(*s);
        else if ((s = EFETCH(env, E_HTTPS)) && SvOK(*s)
                 && (strEQ(SvPV_nolen(*s), "on") || strEQ(SvPV_nolen(*s), "1")))
            scheme = "https";
        else if ((s = EFETCH(env, E_REQUEST_SCHEME)) && SvOK(*s) && strEQ(SvPV_nolen(*s), "https"))
            scheme = "https";
        ESTORE(env, E_PSGI_URL_SCHEME, newSVpv(scheme, 0));
    }
    env_common(aTHX_ env, c);

    /* the status line is written with the front end's protocol */
    worker.inflight.proto = VASSAL_PROTO_UWSGI;
    strcpy(worker.inflight.protocol, "HTTP/1.1");
    worker.inflight.minor = 1;
    if ((svp = EFETCH(env, E_SERVER_PROTOCOL)) && SvOK(*svp)) {
        STRLEN l;
        const char *s = SvPV(*svp, l);
        if (l == 8 && memcmp(s, "HTTP/", 5) == 0 && isDIGIT(s[5]) && s[6] == '.' && isDIGIT(s[7])) {
            memcpy(worker.inflight.protocol, s, 8);
            worker.inflight.protocol[8] = '\0';
            worker.inflight.minor = s[5] == '1' && s[7] == '0' ? 0 : 1;
        }
    }
    else
        ESTORE(env, E_SERVER_PROTOCOL, newSVpvs("HTTP/1.1"));
    svp = EFETCH(env, E_REQUEST_METHOD);
    worker.inflight.head = strEQ(SvPV_nolen(*svp), "HEAD");

    /* nginx's uwsgi_params send an empty one for a request without a body */
    if ((svp = EFETCH(env, E_CONTENT_LENGTH)) && SvOK(*svp)) {
        STRLEN l;
        const char *s = SvPV(*svp, l);
        if (l && !vassal_content_length(s, l, &cl)) {
            refuse(c, 400, "invalid CONTENT_LENGTH");
            goto aborted;
        }
    }
    if (body_over_limit(c, cl)) goto aborted;
    conn_consume(c, &pos);
    if (cl > 0) {
        vbody *b = body_begin(aTHX_ c, envrv, cl);
        if (!b) {
            refuse(c, 500, "cannot store the body");
            goto aborted;
        }
        b->proto = VASSAL_PROTO_UWSGI;
        b->minor = worker.inflight.minor;
        b->is_head = worker.inflight.head;
        memcpy(b->protocol, worker.inflight.protocol, sizeof(b->protocol));
        FREETMPS;
        LEAVE;
        body_advance(aTHX_ c);
        return 0;
    }
    ESTORE(env, E_PSGI_INPUT, newRV_inc(SvRV(worker.empty_input)));
    run_request(aTHX_ c, envrv, 0);
    FREETMPS;
    LEAVE;
    return 0;

  malformed:
    vlog("bad request: malformed uwsgi packet (an item overruns the %lu-byte dict)", (unsigned long)pktsize);
    conn_close(c);
  aborted:
    FREETMPS;
    LEAVE;
    return 0;
}

/* Serves the uwsgi request c->buf holds once its packet is complete (the
 * body may follow later); parks the connection while it is not. */
void
uwsgi_serve(pTHX_ vconn *c)
{
    size_t pktsize;
    unsigned m1;
    if (c->len < 4) { conn_park(c, LIST_PARTIAL); return; }
    m1 = (unsigned char)c->buf[0];
    pktsize = (size_t)((unsigned char)c->buf[1] | ((unsigned char)c->buf[2] << 8));
    if (m1 != 0 && m1 != 5) {
        vlog("bad request: uwsgi modifier1 %u is not a PSGI request (0 or 5)", m1);
        conn_close(c);
        return;
    }
    if (pktsize > worker.buffer_size) {
        vlog("bad request: uwsgi request block of %lu bytes is over buffer-size (%" UVuf ")",
             (unsigned long)pktsize, worker.buffer_size);
        conn_close(c);
        return;
    }
    if (c->len < 4 + pktsize) { conn_park(c, LIST_PARTIAL); return; }
    head_clock_stop(c);
    uwsgi_request(aTHX_ c, pktsize);
}
