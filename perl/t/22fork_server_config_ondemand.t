# Adoption with a config pipe (0x02, --ini emperor://NAME) and an on-demand
# socket (0x04, dup2'ed to fd 0 and served instead of binding http-socket);
# byte 1 makes an adopted vassal exit.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use Vassal::XS;
use Vassal::Packet qw(:all);
use IO::Socket::INET;

Vassal::XS::set_child_subreaper(1);

my ($base, $emperor, $sock, $log, $dir) = start_base();
expect_bytes($emperor, [1, 17], 15, 'the base is ready and loyal');

sub emperor_socket {
    my $port = empty_port();
    my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                                       Listen => 128, ReuseAddr => 1) or die "listen: $!";
    return ($listen, $port);
}

subtest 'mask 0x07: config pipe and on-demand socket' => sub {
    my ($listen, $port) = emperor_socket();
    my ($e, $v) = emperor_pair();
    my ($ce, $cv) = emperor_pair();
    syswrite $ce, encode_packet(115, 0, "[uwsgi]\nprocesses = 2\n");
    my ($vassal, $err) = fork_request($sock, 0x07, [psgi_vassal(), '--ini', 'emperor://app2.ini'],
                                      [fileno $v, fileno $cv, fileno $listen]);
    close $_ for $v, $cv;
    ok $vassal, 'adopted' or diag $err, slurp($log);
    expect_bytes($e, [1, 5], 15, 'ready and accepting');
    my $res = http_get($port, '/');
    is $res->{status}, 200, 'serves on the Emperor\'s socket';
    my ($worker) = $res->{content} =~ /pid ([0-9]+)/;
    is parent_of($worker), $vassal, 'through a worker of the vassal';
    is scalar(children_of($vassal)), 2, 'processes = 2 came from the config pipe';
    like slurp($log), qr/^\[app2 pid $vassal\] serving HTTP on 127\.0\.0\.1:$port \(inherited fd 0\)/m, 'fd 0, name app2';
    expect_bytes($e, [17], 5, 'loyal');
    my @workers = children_of($vassal);
    syswrite $e, chr(2);
    ok wait_gone(10, $vassal, @workers), 'byte 2 stops it gracefully';
};

subtest 'mask 0x05: on-demand socket wins over http-socket' => sub {
    my ($listen, $port) = emperor_socket();
    my $ini = write_file("$dir/app3.ini", "[uwsgi]\nhttp-socket = 127.0.0.1:$port\n");
    my ($e, $v) = emperor_pair();
    my ($vassal, $err) = fork_request($sock, 0x05, [psgi_vassal(), '--ini', $ini], [fileno $v, fileno $listen]);
    close $v;
    ok $vassal, 'adopted' or diag $err;
    expect_bytes($e, [1, 5], 15, 'ready and accepting (no EADDRINUSE)');
    is http_get($port, '/')->{status}, 200, 'serves';
    my @workers = children_of($vassal);
    syswrite $e, chr(1);
    ok wait_gone(10, $vassal, @workers), 'byte 1 (reload): an adopted vassal exits';
    like slurp($log), qr/^\[app3 pid $vassal\] stopping \(graceful\) on byte 1 \(reload\) from the Emperor: an adopted vassal exits$/m,
        'logged';
};

subtest 'mask 0x05: on-demand socket in place of a uwsgi socket' => sub {
    my ($listen, $port) = emperor_socket();
    my $ini = write_file("$dir/app4.ini", "[uwsgi]\nsocket = 127.0.0.1:$port\n");
    my ($e, $v) = emperor_pair();
    my ($vassal, $err) = fork_request($sock, 0x05, [psgi_vassal(), '--ini', $ini], [fileno $v, fileno $listen]);
    close $v;
    ok $vassal, 'adopted' or diag $err;
    expect_bytes($e, [1, 5], 15, 'ready and accepting');
    my $out = uwsgi_roundtrip($port, [REQUEST_METHOD => 'GET', PATH_INFO => '/', REQUEST_URI => '/',
                                      SERVER_PROTOCOL => 'HTTP/1.1', QUERY_STRING => '']);
    like $out, qr{\AHTTP/1\.1 200 OK\r\n.*Hello from pid}s, 'the Emperor\'s socket speaks the uwsgi protocol';
    like slurp($log), qr/^\[app4 pid $vassal\] serving the uwsgi protocol on 127\.0\.0\.1:$port \(inherited fd 0\)/m,
        'logged';
    my @workers = children_of($vassal);
    syswrite $e, chr(0);
    ok wait_gone(10, $vassal, @workers), 'stops';
};

syswrite $emperor, chr(0);
ok wait_gone(10, $base), 'the base exits';

done_testing;
