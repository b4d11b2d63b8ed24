# The worker's own HTTP/1.x request parser (vassal_http.c) through
# Vassal::XS::parse_http_request: what it accepts and the env it builds,
# what it refuses (-1: 400, -3: 505, -4: 431) and when it needs more (-2).
use strict;
use warnings;
use Test::More;
use Vassal::XS;

sub parse {
    my ($req) = @_;
    my %env;
    my $rc = Vassal::XS::parse_http_request($req, \%env);
    return ($rc, \%env);
}

subtest 'a simple GET' => sub {
    my $req = "GET /a/b%20c?x=1&y=%41 HTTP/1.1\r\nHost: example.test\r\nUser-Agent: t\r\n\r\n";
    my ($rc, $env) = parse($req);
    is $rc, length $req, 'the head length';
    is $env->{REQUEST_METHOD}, 'GET', 'REQUEST_METHOD';
    is $env->{REQUEST_URI}, '/a/b%20c?x=1&y=%41', 'REQUEST_URI raw';
    is $env->{PATH_INFO}, '/a/b c', 'PATH_INFO decoded';
    is $env->{QUERY_STRING}, 'x=1&y=%41', 'QUERY_STRING raw';
    is $env->{SERVER_PROTOCOL}, 'HTTP/1.1', 'SERVER_PROTOCOL';
    is $env->{HTTP_HOST}, 'example.test', 'HTTP_HOST';
    is $env->{HTTP_USER_AGENT}, 't', 'HTTP_USER_AGENT';
};

subtest 'headers' => sub {
    my ($rc, $env) = parse("POST / HTTP/1.0\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n"
        . "X-Multi: a\r\nx-multi: b\r\nX-Spaces:   padded value \t \r\nX-Empty:\r\nAccept-Encoding: gzip\r\n\r\n");
    ok $rc > 0, 'parsed';
    is $env->{CONTENT_TYPE}, 'text/plain', 'CONTENT_TYPE without HTTP_';
    is $env->{CONTENT_LENGTH}, 12, 'CONTENT_LENGTH without HTTP_';
    ok !exists $env->{HTTP_CONTENT_TYPE} && !exists $env->{HTTP_CONTENT_LENGTH}, 'no HTTP_CONTENT_*';
    is $env->{HTTP_X_MULTI}, 'a, b', 'a repeated header is joined with ", "';
    is $env->{HTTP_X_SPACES}, 'padded value', 'surrounding whitespace trimmed';
    is $env->{HTTP_X_EMPTY}, '', 'an empty value';
    is $env->{HTTP_ACCEPT_ENCODING}, 'gzip', 'dashes become underscores';
    is $env->{SERVER_PROTOCOL}, 'HTTP/1.0', 'HTTP/1.0';
};

subtest 'line ends, leading empty lines, targets' => sub {
    my $lf = "GET /x HTTP/1.1\nHost: h\n\n";
    is +(parse($lf))[0], length $lf, 'bare LF line ends';
    my $lead = "\r\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n";
    is +(parse($lead))[0], length $lead, 'leading empty lines are skipped';
    my ($rc, $env) = parse("GET http://example.test:8080/p%2Fq?z=1 HTTP/1.1\r\nHost: h\r\n\r\n");
    ok $rc > 0, 'absolute-form';
    is $env->{PATH_INFO}, '/p/q', 'its path';
    is $env->{QUERY_STRING}, 'z=1', 'its query';
    ($rc, $env) = parse("GET http://example.test HTTP/1.1\r\nHost: h\r\n\r\n");
    is $env->{PATH_INFO}, '', 'absolute-form without a path';
    ($rc, $env) = parse("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
    is $env->{PATH_INFO}, '*', 'asterisk-form with OPTIONS';
    ($rc, $env) = parse("GET HTTPS://Example.test?q=1 HTTP/1.1\r\nHost: h\r\n\r\n");
    ok $rc > 0, 'absolute-form, https, upper case';
    is $env->{QUERY_STRING}, 'q=1', 'a query right after the authority';
    ($rc, $env) = parse("GET /x#frag HTTP/1.1\r\nHost: h\r\n\r\n");
    is $env->{PATH_INFO}, '/x', 'a fragment is dropped';
    ($rc) = parse("GET /bad%zz HTTP/1.1\r\nHost: h\r\n\r\n");
    is $rc, -1, 'an invalid escape in the path is refused (as nginx)';
    ($rc) = parse("GET /bad%4 HTTP/1.1\r\nHost: h\r\n\r\n");
    is $rc, -1, 'so is a cut one';
    ($rc) = parse("GET /etc/passwd%00.png HTTP/1.1\r\nHost: h\r\n\r\n");
    is $rc, -1, 'and %00';
    ($rc, $env) = parse("GET /a?q=%zz%00 HTTP/1.1\r\nHost: h\r\n\r\n");
    is $env->{QUERY_STRING}, 'q=%zz%00', 'the query is not decoded, and not checked';
    ($rc, $env) = parse("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n");
    is $env->{PATH_INFO}, "/caf\xc3\xa9", 'obs-text in the target';
};

subtest 'incomplete' => sub {
    is +(parse(''))[0], -2, 'nothing';
    is +(parse("GET / HTTP/1.1\r\nHost: x\r\n"))[0], -2, 'no empty line yet';
    is +(parse("GET / HTTP/1.1\r\nHost: x\r\n\r"))[0], -2, 'half an empty line';
    is +(parse("GET / HTT"))[0], -2, 'half a request line';
};

my @malformed = (
    ["GARBAGE\r\n\r\n",                              'a request line without target and version'],
    ["GET /\r\n\r\n",                                'HTTP/0.9 style'],
    ["GET / HTTP/1.1 extra\r\n\r\n",                 'trailing words'],
    ["GET  / HTTP/1.1\r\n\r\n",                      'two spaces'],
    ["GET / http/1.1\r\n\r\n",                       'lower-case protocol'],
    ["GET / HTTP/1\r\n\r\n",                         'version without minor'],
    ["GE(T / HTTP/1.1\r\n\r\n",                      'a method that is not a token'],
    [" GET / HTTP/1.1\r\n\r\n",                      'leading space'],
    ["GET /a\x00b HTTP/1.1\r\n\r\n",                 'NUL in the target'],
    ["GET /a\x7fb HTTP/1.1\r\n\r\n",                 'DEL in the target'],
    ["GET / HTTP/1.1\r\nNo colon here\r\n\r\n",      'a header line without a colon'],
    ["GET / HTTP/1.1\r\nX-A : 1\r\n\r\n",            'whitespace before the colon'],
    ["GET / HTTP/1.1\r\n: 1\r\n\r\n",                'an empty header name'],
    ["GET / HTTP/1.1\r\nX-A: 1\r\n continued\r\n\r\n", 'obs-fold'],
    ["GET / HTTP/1.1\r\nX-A: a\x01b\r\n\r\n",        'a control character in a value'],
    ["GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n",          'a bare CR in a value'],
    ["GET / HTTP/1.1\r\nX(A): 1\r\n\r\n",            'a header name that is not a token'],
    ["POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 'a Content-Length that is not a number'],
    ["POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 'a negative Content-Length'],
    ["POST / HTTP/1.1\r\nContent-Length:\r\n\r\n",   'an empty Content-Length'],
    ["POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 'two different Content-Lengths'],
    ["POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 'Content-Length with chunked'],
    ["POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 'a Content-Length too large'],
    ["GET a/b HTTP/1.1\r\n\r\n",                    'a target without a leading slash'],
    ["GET * HTTP/1.1\r\n\r\n",                      'asterisk-form with GET'],
    ["GET http:// HTTP/1.1\r\n\r\n",                'absolute-form with an empty authority'],
    ["GET http://user\@host/ HTTP/1.1\r\n\r\n",     'absolute-form with userinfo'],
    ["CONNECT example.test:443 HTTP/1.1\r\n\r\n",   'authority-form (CONNECT)'],
    ["GET ftp://host/x HTTP/1.1\r\n\r\n",           'an absolute-form that is not http(s)'],
    ["POST / HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 'chunked not the last coding'],
    ["POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 'chunked twice'],
    ["POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n", 'an empty Transfer-Encoding'],
    ["POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 'gzip without chunked'],
);
for my $case (@malformed) {
    my ($req, $name) = @$case;
    # each with a Host, so that none is refused for lacking one
    $req =~ s{\A([^\n]* HTTP/1\.1\r\n)}{${1}Host: h\r\n};
    is +(parse($req))[0], -1, "400: $name";
}
for my $case (["GET / HTTP/1.1\r\n\r\n",                          'HTTP/1.1 without Host'],
              ["GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",     'two Host fields'],
              ["GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n",     'two Host fields in HTTP/1.0'],
              ["GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",               'an invalid Host'],
              ["GET http://a#\@b/ HTTP/1.1\r\nHost: a\r\n\r\n",     "'#' in an absolute-form authority"]) {
    is +(parse($case->[0]))[0], -1, "400: $case->[1]";
}
ok +(parse("GET / HTTP/1.0\r\n\r\n"))[0] > 0, 'HTTP/1.0 without Host is fine';
ok +(parse("GET http://[::1]:8080/ HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"))[0] > 0, 'an IPv6 literal';

is +(parse("GARBAGE IN\r\nmore"))[0], -1, 'a malformed request line is refused before the head is complete';
is +(parse("\x16\x03\x01\x02\x00\x01"))[0], -1, 'a TLS handshake is refused before any line end';
is +(parse("GET /x\x01"))[0], -1, 'so is a control character in a partial target';
is +(parse("GET /x HTTP/1."))[0], -2, 'a partial request line that can still be valid';
is +(parse("GET /x HTTP/2"))[0], -3, 'a partial HTTP/2 request line';
is +(parse("GET / HTTP/2.0\r\n\r\n"))[0], -3, '505: HTTP/2.0';
is +(parse("GET / HTTP/1.2\r\n\r\n"))[0], -3, '505: HTTP/1.2';
is +(parse("GET / HTTP/2.0\r\n"))[0], -3, '505 as soon as the request line is complete';
my $many = "GET / HTTP/1.1\r\n" . join('', map { "X-H$_: $_\r\n" } 1 .. 129) . "\r\n";
is +(parse($many))[0], -4, '431: more than 128 header fields';
my ($rc, $env) = parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n");
ok $rc > 0, 'two equal Content-Lengths are one';
is $env->{CONTENT_LENGTH}, 7, 'CONTENT_LENGTH';

done_testing;
