# Header fields whose names have an underscore are dropped by default (as
# nginx's underscores_in_headers off): X_Forwarded_For never joins or stands
# in for X-Forwarded-For, Content_Length never becomes HTTP_CONTENT_LENGTH.
# With http-underscores-in-headers they are kept as HTTP_NAME, joined among
# themselves, but dropped beside a field of the same key without an
# underscore (whichever comes first), and never as HTTP_CONTENT_LENGTH,
# HTTP_CONTENT_TYPE or HTTP_TRANSFER_ENCODING.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use Vassal::Config;

my $dir = tempdir();
my $app = write_file("$dir/headers.psgi", <<'APP');
sub {
    my ($env) = @_;
    my $body = join '', map { "$_=$env->{$_}\n" } sort grep { /\A(?:HTTP_|CONTENT_)/ && $_ ne 'HTTP_HOST' } keys %$env;
    return [200, ['Content-Type' => 'text/plain'], [$body]];
}
APP

# The env keys (HTTP_* but Host, CONTENT_*) a request with these header lines gets.
sub env_of {
    my ($c, @lines) = @_;
    my $r = http_roundtrip($c, join("\r\n", "GET / HTTP/1.1", "Host: x", @lines) . "\r\n\r\n");
    return undef unless $r && $r->{status} == 200;
    return { map { split /=/, $_, 2 } split /\n/, $r->{body} };
}

my @common = (
    ['X-Forwarded-For: 1.2.3.4', 'X_Forwarded_For: 6.6.6.6'],
    ['X_Forwarded_For: 6.6.6.6', 'X-Forwarded-For: 1.2.3.4'],
    ['x-forwarded_for: 6.6.6.6', 'X-FORWARDED-FOR: 1.2.3.4'],
);

{
    my $v = start_vassal(dir => $dir, args => ['--processes', 1, '--psgi', $app]);
    my $c = http_connect($v->{port});
    for my $lines (@common) {
        is_deeply env_of($c, @$lines), { HTTP_X_FORWARDED_FOR => '1.2.3.4' }, "default: [@$lines]: the dashed field only";
    }
    is_deeply env_of($c, 'X_Forwarded_For: 6.6.6.6'), {}, 'default: X_Forwarded_For alone is dropped';
    is_deeply env_of($c, 'Content_Length: 5', 'Content_Type: text/evil', 'Transfer_Encoding: chunked'), {},
        'default: Content_Length, Content_Type, Transfer_Encoding are dropped';
    is_deeply env_of($c, 'X-A: 1', 'X_A: 2', 'X-B_C: 3'), { HTTP_X_A => '1' }, 'default: only names without an underscore';
    my $r = http_roundtrip($c, "POST / HTTP/1.1\r\nHost: x\r\nTransfer_Encoding: chunked\r\nContent_Length: 0\r\n"
                              . "Content-Length: 3\r\n\r\nabc");
    is $r->{status}, 200, 'default: the body is framed by the real Content-Length';
    is $r->{body}, "CONTENT_LENGTH=3\n", '  and only CONTENT_LENGTH is in the env';
    ok stop_vassal($v), 'stops';
}

ok defined Vassal::Config->new->canonical('http-underscores-in-headers'), 'the option is known';
like qx{$^X @{[psgi_vassal()]} --help 2>&1}, qr/--http-underscores-in-headers/, 'and in --help';

{
    my $v = start_vassal(dir => $dir, args => ['--processes', 1, '--psgi', $app, '--http-underscores-in-headers']);
    my $c = http_connect($v->{port});
    for my $lines (@common) {
        is_deeply env_of($c, @$lines), { HTTP_X_FORWARDED_FOR => '1.2.3.4' },
            "with the option: [@$lines]: the dashed field only";
    }
    is_deeply env_of($c, 'X_Forwarded_For: 6.6.6.6'), { HTTP_X_FORWARDED_FOR => '6.6.6.6' },
        'with the option: X_Forwarded_For alone is kept';
    is_deeply env_of($c, 'X_A: 1', 'X-A_: 0', 'x_a: 2'), { HTTP_X_A => '1, 2', HTTP_X_A_ => '0' },
        'with the option: underscored fields of one key are joined';
    is_deeply env_of($c, 'Content_Length: 5', 'Content_Type: text/evil', 'Transfer_Encoding: chunked'), {},
        'with the option: Content_Length, Content_Type, Transfer_Encoding are still dropped';
    ok stop_vassal($v), 'stops';
}

done_testing;
