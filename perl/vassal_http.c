/*
 * vassal_http.c - a strict HTTP/1.x request-head parser, plain C.
 *
 * Strict because the worker is a server on the open network: anything the
 * grammar of RFC 9112 does not allow in a request line or a header field is
 * refused (400) instead of being guessed at, which is what keeps request
 * smuggling and header injection out. Bare LF line ends are accepted (many
 * clients and test tools send them); obs-fold continuation lines are not.
 */
#include <string.h>
#include <time.h>
#include <stdio.h>
#include "vassal.h"

/* RFC 9110 tchar: "!#$%&'*+-.^_`|~" DIGIT ALPHA */
static const unsigned char tchar_table[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1,
    ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,
    ['~'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,
    ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
    ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,
    ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
    ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
    ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

int
vassal_is_tchar(unsigned char c)
{
    return tchar_table[c];
}

size_t
vassal_http_skip_empty_lines(const char *buf, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if (buf[i] == '\n') { i++; continue; }
        if (buf[i] == '\r' && i + 1 < len && buf[i + 1] == '\n') { i += 2; continue; }
        break;
    }
    return i;
}

size_t
vassal_http_head_end(const char *buf, size_t len, size_t *scan)
{
    size_t i = *scan;
    for (;;) {
        const char *nl;
        size_t p;
        if (i >= len) { *scan = len; return 0; }
        nl = memchr(buf + i, '\n', len - i);
        if (!nl) { *scan = len; return 0; }
        p = (size_t)(nl - buf);
        /* the line after this LF is empty: the header section ends */
        if (p + 1 >= len) { *scan = p; return 0; }
        if (buf[p + 1] == '\n') return p + 2;
        if (buf[p + 1] == '\r') {
            if (p + 2 >= len) { *scan = p; return 0; }
            if (buf[p + 2] == '\n') return p + 3;
        }
        i = p + 1;
    }
}

/* Parses "HTTP/1.x"; returns the minor version, or a VASSAL_E_* code. */
static int
parse_version(const char *p, size_t len)
{
    if (len != 8 || memcmp(p, "HTTP/", 5) != 0 || p[6] != '.'
        || p[5] < '0' || p[5] > '9' || p[7] < '0' || p[7] > '9')
        return VASSAL_E_MALFORMED;
    if (p[5] != '1' || (p[7] != '0' && p[7] != '1'))
        return VASSAL_E_VERSION;
    return p[7] - '0';
}

/* RFC 3986 unreserved and sub-delims: what a reg-name is made of, besides
 * pct-encoded */
static int
host_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
        || (c && strchr("-._~!$&'()*+,;=", c));
}

static int hexval(unsigned char c);

int
vassal_valid_authority(const char *s, size_t len, int need_host)
{
    size_t i = 0;
    if (len && s[0] == '[') {
        /* IP-literal: IPv6address or IPvFuture, checked for its characters */
        for (i = 1; i < len && s[i] != ']'; i++)
            if (!host_char((unsigned char)s[i]) && s[i] != ':') return 0;
        if (i >= len || i == 1) return 0;
        i++;
    }
    else {
        /* reg-name (or IPv4address, made of the same characters) */
        while (i < len && s[i] != ':') {
            if (s[i] == '%') {
                if (len - i < 3 || hexval((unsigned char)s[i + 1]) < 0 || hexval((unsigned char)s[i + 2]) < 0)
                    return 0;
                i += 3;
            }
            else if (host_char((unsigned char)s[i])) i++;
            else return 0;
        }
        if (need_host && i == 0) return 0;
    }
    if (i == len) return 1;
    if (s[i] != ':') return 0;
    for (i++; i < len; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

/* RFC 9112 3.2: origin-form ("/path"), absolute-form ("http://host/path",
 * with a host), asterisk-form ("*", for OPTIONS only). Authority-form is for
 * CONNECT, which a PSGI server does not do. Anything else is refused: what
 * a server accepts and a proxy in front of it reads differently is how
 * requests get smuggled. */
/* The path of a target [p, end), up to its query or fragment: every '%'
 * starts a pct-encoded octet (RFC 3986 2.1), and none is %00. As nginx
 * refuses them: PATH_INFO is decoded, and an escape read two ways, or a NUL
 * that ends a C string early, names one file to the app and another to
 * whatever reads the path after it. */
static int
valid_path(const char *p, const char *end)
{
    for (; p < end && *p != '?' && *p != '#'; p++) {
        if (*p != '%') continue;
        if (end - p < 3 || hexval((unsigned char)p[1]) < 0 || hexval((unsigned char)p[2]) < 0
            || (p[1] == '0' && p[2] == '0'))
            return 0;
        p += 2;
    }
    return 1;
}

static int
valid_target(const char *t, size_t len, const char *method, size_t mlen)
{
    size_t skip, i;
    if (t[0] == '/') return valid_path(t, t + len);
    if (len == 1 && t[0] == '*') return mlen == 7 && memcmp(method, "OPTIONS", 7) == 0;
    if (len > 7 && vassal_ieq(t, 7, "http://")) skip = 7;
    else if (len > 8 && vassal_ieq(t, 8, "https://")) skip = 8;
    else return 0;
    /* the authority, up to the path or the query: a host and maybe a port,
     * nothing else - no userinfo, and no '#' (as nginx: "http://a#@b/" is
     * host a to RFC 3986 but host b to a parser that reads on) */
    for (i = skip; i < len && t[i] != '/' && t[i] != '?'; i++)
        ;
    return vassal_valid_authority(t + skip, i - skip, 1) && valid_path(t + i, t + len);
}

/* Parses the request line [p, end) (without its line end). */
static int
parse_request_line(const char *p, const char *end, vassal_request *r)
{
    const char *s = p;
    int minor;
    while (p < end && tchar_table[(unsigned char)*p]) p++;
    if (p == s || p >= end || *p != ' ')
        return VASSAL_E_MALFORMED;
    r->method = s;
    r->method_len = (size_t)(p - s);
    s = ++p;
    /* request-target: no whitespace, no control characters (obs-text is allowed) */
    while (p < end && (unsigned char)*p > 0x20 && *p != 0x7f) p++;
    if (p == s || p >= end || *p != ' ')
        return VASSAL_E_MALFORMED;
    r->target = s;
    r->target_len = (size_t)(p - s);
    if (!valid_target(r->target, r->target_len, r->method, r->method_len))
        return VASSAL_E_MALFORMED;
    s = ++p;
    minor = parse_version(s, (size_t)(end - s));
    if (minor < 0)
        return minor;
    r->protocol = s;
    r->protocol_len = 8;
    r->minor = minor;
    return 0;
}

/* [s, *line_end) is the line starting at s, without CR LF; returns the start
 * of the next line, or NULL when a CR appears anywhere but before the LF. */
static const char *
next_line(const char *s, const char *limit, const char **line_end)
{
    const char *nl = memchr(s, '\n', (size_t)(limit - s));
    const char *e;
    if (!nl) return NULL;
    e = nl;
    if (e > s && e[-1] == '\r') e--;
    if (memchr(s, '\r', (size_t)(e - s))) return NULL;
    *line_end = e;
    return nl + 1;
}

/* Can the incomplete line [p, end) still become a request line? */
static int
check_partial_request_line(const char *p, const char *end)
{
    static const char version[] = "HTTP/1.";
    size_t i;
    while (p < end && tchar_table[(unsigned char)*p]) p++;
    if (p >= end) return 0;
    if (*p != ' ') return VASSAL_E_MALFORMED;
    p++;
    while (p < end && (unsigned char)*p > 0x20 && *p != 0x7f) p++;
    if (p >= end) return 0;
    if (*p != ' ') return VASSAL_E_MALFORMED;
    p++;
    for (i = 0; p < end && i < sizeof(version) - 1; i++, p++)
        if (*p != version[i])
            return (i == 5 && *p >= '0' && *p <= '9') ? VASSAL_E_VERSION : VASSAL_E_MALFORMED;
    return 0;
}

int
vassal_http_check_first_line(const char *buf, size_t len)
{
    vassal_request r;
    const char *end;
    const char *next;
    if (!memchr(buf, '\n', len)) {
        const char *e = buf + len;
        if (len && e[-1] == '\r') e--;    /* the CR of a CRLF still coming */
        if (memchr(buf, '\r', (size_t)(e - buf))) return VASSAL_E_MALFORMED;
        return check_partial_request_line(buf, e);
    }
    next = next_line(buf, buf + len, &end);
    if (!next) return VASSAL_E_MALFORMED;
    return parse_request_line(buf, end, &r);
}

int
vassal_http_parse_head(const char *buf, size_t len, vassal_request *r)
{
    const char *limit = buf + len;
    const char *line = buf, *end, *next;
    int rc;

    r->nheaders = 0;
    next = next_line(line, limit, &end);
    if (!next) return VASSAL_E_MALFORMED;
    rc = parse_request_line(line, end, r);
    if (rc) return rc;

    for (line = next; line < limit; line = next) {
        const char *p, *v, *ve;
        vassal_header *h;
        next = next_line(line, limit, &end);
        if (!next) return VASSAL_E_MALFORMED;
        if (end == line) break;              /* the empty line: done */
        /* field-name: a token right up to the colon (no obs-fold, no space) */
        for (p = line; p < end && tchar_table[(unsigned char)*p]; p++)
            ;
        if (p == line || p >= end || *p != ':')
            return VASSAL_E_MALFORMED;
        /* field-value: OWS, then visible characters, SP, HTAB, obs-text; OWS */
        v = p + 1;
        while (v < end && (*v == ' ' || *v == '\t')) v++;
        ve = end;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
        {
            const char *q;
            for (q = v; q < ve; q++) {
                unsigned char c = (unsigned char)*q;
                if ((c < 0x20 && c != '\t') || c == 0x7f)
                    return VASSAL_E_MALFORMED;
            }
        }
        if (r->nheaders >= VASSAL_MAX_HEADERS)
            return VASSAL_E_TOO_MANY;
        h = &r->headers[r->nheaders++];
        h->name = line;
        h->name_len = (size_t)(p - line);
        h->value = v;
        h->value_len = (size_t)(ve - v);
    }
    return 0;
}

static int
hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

size_t
vassal_percent_decode(const char *src, size_t len, char *dst)
{
    size_t i = 0, o = 0;
    while (i < len) {
        if (src[i] == '%' && i + 2 < len) {
            int hi = hexval((unsigned char)src[i + 1]);
            int lo = hexval((unsigned char)src[i + 2]);
            if (hi >= 0 && lo >= 0) {
                dst[o++] = (char)(hi * 16 + lo);
                i += 3;
                continue;
            }
        }
        dst[o++] = src[i++];
    }
    return o;
}

int
vassal_ieq(const char *s, size_t len, const char *lit)
{
    size_t i;
    for (i = 0; i < len; i++) {
        unsigned char a = (unsigned char)s[i], b = (unsigned char)lit[i];
        if (!b) return 0;
        if (a >= 'A' && a <= 'Z') a += 32;
        if (b >= 'A' && b <= 'Z') b += 32;
        if (a != b) return 0;
    }
    return lit[len] == '\0';
}

int
vassal_has_token(const char *v, size_t len, const char *token)
{
    size_t i = 0;
    while (i < len) {
        size_t s, e;
        while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
        s = i;
        while (i < len && v[i] != ',') i++;
        e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t')) e--;
        if (e > s && vassal_ieq(v + s, e - s, token)) return 1;
    }
    return 0;
}

const char *
vassal_status_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 102: return "Processing";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 207: return "Multi-Status";
    case 208: return "Already Reported";
    case 226: return "IM Used";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 305: return "Use Proxy";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 418: return "I'm a teapot";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 423: return "Locked";
    case 424: return "Failed Dependency";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 506: return "Variant Also Negotiates";
    case 507: return "Insufficient Storage";
    case 508: return "Loop Detected";
    case 510: return "Not Extended";
    case 511: return "Network Authentication Required";
    default:  return "Unknown";
    }
}

const char *
vassal_http_date(void)
{
    static time_t cached = 0;
    static char buf[64];
    static const char *days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
    static const char *months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    time_t now = time(NULL);
    if (now != cached) {
        struct tm tm;
        gmtime_r(&now, &tm);
        snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d GMT",
                 days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
                 tm.tm_hour, tm.tm_min, tm.tm_sec);
        cached = now;
    }
    return buf;
}

int
vassal_content_length(const char *s, size_t len, long long *length)
{
    long long v = 0;
    size_t i;
    if (!len || len > 18) return 0;
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        v = v * 10 + (s[i] - '0');
    }
    *length = v;
    return 1;
}
