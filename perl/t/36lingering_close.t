# When the worker closes a connection the client may still be sending on, the
# response it answered arrives whole: the write side is shut first (the FIN
# follows the response), what the client still sends is read and dropped,
# and only then is the socket closed - closing with unread bytes would send
# a TCP reset instead, which can destroy the response (RFC 9112 9.6). And
# the worker is not held meanwhile.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use Errno ();
use Time::HiRes qw(sleep time);

my $dir = tempdir();
my $app = write_file("$dir/app.psgi", <<'APP');
my $big = join '', map { sprintf "%07d\n", $_ } 1 .. 20000;    # 160000 bytes
sub {
    my ($env) = @_;
    my ($secs) = ($env->{QUERY_STRING} // '') =~ /sleep=([0-9.]+)/;
    select undef, undef, undef, $secs if $secs;
    return [200, ['Content-Type' => 'text/plain', 'Connection' => 'close'], [$big]] if $env->{PATH_INFO} eq '/close';
    return [200, ['Content-Type' => 'text/plain'], [$big]] if $env->{PATH_INFO} eq '/big';
    return [200, ['Content-Type' => 'text/plain'], ["$$\n"]];
}
APP
my $size = 160000;

# Reads until EOF or an error: (bytes, error or '')
sub read_all {
    my ($sock, $timeout) = @_;
    my ($buf, $err) = ('', '');
    my $deadline = time + ($timeout // 10);
    while (time < $deadline) {
        my $rin = '';
        vec($rin, fileno $sock, 1) = 1;
        next unless select(my $rout = $rin, undef, undef, $deadline - time) > 0;
        my $r = sysread $sock, $buf, 65536, length $buf;
        if (!defined $r) { next if $!{EINTR}; $err = "$!"; last }
        last if !$r;
    }
    return ($buf, $err);
}

sub body_of { my ($raw) = @_; $raw =~ /\r\n\r\n(.*)\z/s ? $1 : '' }

my $v = start_vassal(args => ['--processes', 1, '--psgi', $app, '--socket-timeout', 4]);

subtest 'the app closes a keep-alive connection while the next request arrives' => sub {
    my $c = http_connect($v->{port});
    syswrite $c, "GET /close?sleep=0.5 HTTP/1.1\r\nHost: x\r\n\r\n";
    sleep 0.2;    # read by the worker; the app is still busy
    syswrite $c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n";
    my ($raw, $err) = read_all($c);
    like $raw, qr{\AHTTP/1\.1 200 OK\r\n}, 'the response';
    like $raw, qr{\r\nConnection: close\r\n}i, 'says it closes';
    is length(body_of($raw)), $size, 'whole (no reset)';
    is $err, '', 'then EOF, not a reset';
    unlike body_of($raw), qr/HTTP\/1\.1/, 'the next request is not answered';
};

subtest 'Connection: close with more bytes behind a request that filled the read buffer' => sub {
    # the worker's first read takes 4096 bytes: this request exactly
    my $head = "GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: ";
    my $req = $head . ('p' x (4096 - length($head) - 4)) . "\r\n\r\n";
    is length $req, 4096, 'a 4096-byte request';
    my $c = http_connect($v->{port});
    syswrite $c, $req . ("GET / HTTP/1.1\r\nHost: x\r\n\r\n" x 100);
    my ($raw, $err) = read_all($c);
    like $raw, qr{\AHTTP/1\.1 200 OK\r\n}, 'the response';
    is length(body_of($raw)), $size, 'whole (no reset)';
    is $err, '', 'then EOF, not a reset';
};

subtest 'a client that keeps sending does not hold the worker' => sub {
    my $c = http_connect($v->{port});
    syswrite $c, "GET /close HTTP/1.1\r\nHost: x\r\n\r\n";
    my $t0 = time;
    my $ok = 1;
    # the response is not read yet; more bytes keep coming for a while
    my $served = 0;
    for (1 .. 5) {
        syswrite $c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n" or last;
        my $r = http_get($v->{port}, '/pid');
        $served++ if $r->{status} == 200;
        sleep 0.05;
    }
    is $served, 5, 'other clients are served meanwhile';
    my ($raw, $err) = read_all($c);
    is length(body_of($raw)), $size, 'and the lingering client got its whole response';
    ok is_closed($c, 5), 'closed';
};

subtest 'Connection: close, nothing more: closed at once' => sub {
    my $c = http_connect($v->{port});
    syswrite $c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    my ($raw, $err) = read_all($c, 5);
    like $raw, qr{\AHTTP/1\.1 200 OK\r\n.*\r\nConnection: close\r\n}s, 'the response';
    is $err, '', 'then EOF';
};

ok stop_vassal($v), 'stops';
done_testing;
