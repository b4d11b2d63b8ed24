# Answers every request with the parts of its env an HTTP parser makes
# (REQUEST_*, PATH_INFO, QUERY_STRING, SERVER_PROTOCOL, CONTENT_*, HTTP_*),
# one "KEY=VALUE" a line, with \, = and bytes outside 0x20-0x7e as \xHH:
# for t/80http_parser_differential.t.
use strict;
use warnings;

my $app = sub {
    my ($env) = @_;
    my $out = '';
    for my $k (sort grep { /\A(?:REQUEST_|HTTP_|CONTENT_|(?:PATH_INFO|QUERY_STRING|SERVER_PROTOCOL)\z)/ } keys %$env) {
        my ($ek, $v) = map { s/([^\x20-\x7e]|[\\=])/sprintf '\\x%02x', ord $1/ger } $k, $env->{$k} // '';
        $out .= "$ek=$v\n";
    }
    return [200, ['Content-Type' => 'text/plain', 'Content-Length' => length $out], [$out]];
};
$app;
