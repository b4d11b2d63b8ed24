# Echoes what arrived: the request's method, path, query, headers and a
# digest of its body, as "key: value" lines; ?body=1 echoes the body itself.
# The nginx tests check that a request went through a front end intact.
use strict;
use warnings;
use Digest::SHA ();

my $app = sub {
    my ($env) = @_;
    my $body = '';
    while ((my $n = $env->{'psgi.input'}->read(my $buf, 65536)) > 0) { $body .= $buf }
    my @lines = (
        "method: $env->{REQUEST_METHOD}",
        "path_info: $env->{PATH_INFO}",
        "query_string: " . ($env->{QUERY_STRING} // ''),
        "request_uri: " . ($env->{REQUEST_URI} // ''),
        "script_name: " . ($env->{SCRIPT_NAME} // ''),
        "content_length: " . ($env->{CONTENT_LENGTH} // ''),
        "content_type: " . ($env->{CONTENT_TYPE} // ''),
        "body_length: " . length($body),
        "body_sha1: " . Digest::SHA::sha1_hex($body),
        "x_test: " . ($env->{HTTP_X_TEST} // ''),
        "url_scheme: $env->{'psgi.url_scheme'}",
        "pid: $$",
    );
    my $out = join '', map { "$_\n" } @lines;
    $out = $body if ($env->{QUERY_STRING} // '') =~ /(?:^|&)body=1(?:&|$)/;
    return [200, ['Content-Type' => 'text/plain', 'X-Echo' => 'yes'], [$out]];
};
